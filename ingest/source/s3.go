package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3API is the part of the S3 client that replay uses; *s3.Client satisfies it.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// ErrBadS3URL is returned for an s3:// argument that names no bucket.
var ErrBadS3URL = errors.New("bad s3 URL")

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%w: %q (want s3://bucket/prefix)", ErrBadS3URL, raw)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

// S3Range selects objects by the time in their key. Zero values are open ends.
type S3Range struct {
	From, To time.Time
	// Slack widens the upper end: AWS delivers a log file minutes after the
	// events in it, so a file named up to Slack after To may hold events
	// before To. Default 1h.
	Slack time.Duration
}

func (r S3Range) open() bool { return r.From.IsZero() && r.To.IsZero() }

// S3Units lists the objects under s3://bucket/prefix as units, sorted by key.
//
// With a time range, the AWS log key layout
// [prefix/]AWSLogs/[o-ORGID/]ACCOUNT/SERVICE/REGION/YYYY/MM/DD/ (SERVICE is
// CloudTrail, CloudTrail-Insights, vpcflowlogs, ...) is walked level by level
// with a delimiter and only the day folders inside the range are listed, so a
// bucket holding years of logs is not listed whole. Objects are then kept when
// the timestamp in their name (..._YYYYMMDDTHHMMZ_...) falls in the range.
func S3Units(ctx context.Context, api S3API, rawURL string, rng S3Range) ([]Unit, error) {
	bucket, prefix, err := ParseS3URL(rawURL)
	if err != nil {
		return nil, err
	}
	if rng.Slack == 0 {
		rng.Slack = time.Hour
	}
	w := &s3Walker{api: api, bucket: bucket, rng: rng}
	if rng.open() {
		err = w.listAll(ctx, prefix)
	} else {
		err = w.walk(ctx, prefix, 0)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(w.units, func(i, j int) bool { return w.units[i].Name < w.units[j].Name })
	return w.units, nil
}

type s3Walker struct {
	api    S3API
	bucket string
	rng    S3Range
	units  []Unit
}

const (
	awsLogsDir = "AWSLogs/"
	digestDir  = "/CloudTrail-Digest/"
)

// maxSearchDepth bounds how deep the walker looks for AWSLogs/ below a
// user-chosen prefix (CloudTrail allows one custom prefix, possibly nested).
const maxSearchDepth = 4

func (w *s3Walker) walk(ctx context.Context, prefix string, depth int) error {
	i := strings.Index(prefix, awsLogsDir)
	if i < 0 {
		if depth > maxSearchDepth {
			return nil
		}
		dirs, err := w.listDirs(ctx, prefix)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if err := w.walk(ctx, d, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var segs []string
	for _, s := range strings.Split(prefix[i+len(awsLogsDir):], "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	level := len(segs)
	if level > 0 && strings.HasPrefix(segs[0], "o-") {
		level-- // organization trails add a level
	}
	if !strings.HasSuffix(prefix, "/") && len(segs) > 0 {
		// A partial last segment: treat it as a filter on the level below.
		level--
	}
	switch {
	case level < 3: // accounts (or org), services, regions: walk down
		dirs, err := w.listDirs(ctx, prefix)
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if strings.HasSuffix(d, digestDir) {
				continue // digest files hold hashes of log files, no events
			}
			if err := w.walk(ctx, d, depth); err != nil {
				return err
			}
		}
		return nil
	case level == 3 && !w.rng.From.IsZero(): // REGION/: list only the days in range
		end := w.rng.To
		if end.IsZero() {
			end = time.Now().UTC()
		}
		end = end.Add(w.rng.Slack)
		for d := truncDay(w.rng.From); !d.After(end); d = d.AddDate(0, 0, 1) {
			if err := w.listAll(ctx, prefix+d.Format("2006/01/02/")); err != nil {
				return err
			}
		}
		return nil
	default: // a day or deeper, or no lower bound: list and filter by name
		return w.listAll(ctx, prefix)
	}
}

func truncDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func (w *s3Walker) listDirs(ctx context.Context, prefix string) ([]string, error) {
	var dirs []string
	p := s3.NewListObjectsV2Paginator(w.api, &s3.ListObjectsV2Input{
		Bucket: aws.String(w.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", w.bucket, prefix, err)
		}
		for _, cp := range out.CommonPrefixes {
			dirs = append(dirs, aws.ToString(cp.Prefix))
		}
	}
	return dirs, nil
}

func (w *s3Walker) listAll(ctx context.Context, prefix string) error {
	p := s3.NewListObjectsV2Paginator(w.api, &s3.ListObjectsV2Input{
		Bucket: aws.String(w.bucket), Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", w.bucket, prefix, err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") || !w.inRange(key) {
				continue
			}
			w.units = append(w.units, w.unit(key, aws.ToInt64(o.Size)))
		}
	}
	return nil
}

// keyTime matches the delivery timestamp AWS puts in log file names, e.g.
// 111122223333_CloudTrail_us-east-1_20250101T0005Z_abcd.json.gz or
// 111122223333_vpcflowlogs_us-east-1_fl-1234_20250101T0005Z_hash.log.gz.
var keyTime = regexp.MustCompile(`_(\d{8}T\d{4})(\d{2})?Z[_.]`)

// KeyTime returns the timestamp in an AWS log object key, if any.
func KeyTime(key string) (time.Time, bool) {
	m := keyTime.FindStringSubmatch(key[strings.LastIndexByte(key, '/')+1:])
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102T1504", m[1])
	return t, err == nil
}

func (w *s3Walker) inRange(key string) bool {
	if w.rng.open() {
		return true
	}
	t, ok := KeyTime(key)
	if !ok {
		return true // not an AWS-named file: keep it, the decoder decides
	}
	if !w.rng.From.IsZero() && t.Before(w.rng.From) {
		return false
	}
	if !w.rng.To.IsZero() && !t.Before(w.rng.To.Add(w.rng.Slack)) {
		return false
	}
	return true
}

func (w *s3Walker) unit(key string, size int64) Unit {
	bucket, api := w.bucket, w.api
	return Unit{
		Name: "s3://" + bucket + "/" + key,
		Size: size,
		Open: func(ctx context.Context) (io.ReadCloser, error) {
			out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return nil, err
			}
			return out.Body, nil
		},
	}
}

// SortByKeyTime orders units by the delivery time in their AWS log file name
// (see KeyTime), then by name. Logs of many accounts and regions laid out by
// path would otherwise be read a whole account or region at a time, running
// the watermark ahead of the others and making their events late. Units
// without a time in their name keep their relative order, before the rest.
func SortByKeyTime(units []Unit) {
	times := make(map[string]time.Time, len(units))
	for _, u := range units {
		if t, ok := KeyTime(u.Name); ok {
			times[u.Name] = t
		}
	}
	sort.SliceStable(units, func(i, j int) bool {
		ti, tj := times[units[i].Name], times[units[j].Name]
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		if ti.IsZero() {
			return false // both untimed: keep the given order
		}
		return units[i].Name < units[j].Name
	})
}
