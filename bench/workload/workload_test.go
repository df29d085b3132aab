package workload

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// smallConfig is a few hours of a small organisation, quick enough for -race.
func smallConfig(seed int64) Config {
	return Config{Seed: seed, Principals: 120, Accounts: 3, Instances: 20, Duration: 6 * time.Hour,
		RatePerMinute: 0.5, Incidents: true, WarmUp: time.Hour}
}

func mustNew(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// digest hashes everything a generator emits, metadata included.
func digest(t *testing.T, cfg Config) (string, int) {
	g := mustNew(t, cfg)
	h := sha256.New()
	var r Record
	n := 0
	for g.Next(&r) {
		fmt.Fprintf(h, "%d|%d|%s|%s|%s|%s|%s|%d|", r.Time.Unix(), r.Kind, r.Principal, r.Incident, r.Account, r.Region, r.FlowLog, r.Format)
		h.Write(r.Body)
		n++
	}
	b, _ := json.Marshal(g.Truth())
	h.Write(b)
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, n := digest(t, smallConfig(7))
	if n < 1000 {
		t.Fatalf("only %d records", n)
	}
	if b, _ := digest(t, smallConfig(7)); a != b {
		t.Fatal("same seed and config gave different output")
	}
	if c, _ := digest(t, smallConfig(8)); a == c {
		t.Fatal("different seeds gave identical output")
	}
}

// ctRecord is the subset of a CloudTrail record the tests look at.
type ctRecord struct {
	EventVersion string `json:"eventVersion"`
	UserIdentity struct {
		Type           string `json:"type"`
		PrincipalID    string `json:"principalId"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		AccessKeyID    string `json:"accessKeyId"`
		UserName       string `json:"userName"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext *struct {
			SessionIssuer struct {
				Type string `json:"type"`
				ARN  string `json:"arn"`
			} `json:"sessionIssuer"`
			WebIDFederationData map[string]any `json:"webIdFederationData"`
			Attributes          struct {
				CreationDate     string `json:"creationDate"`
				MFAAuthenticated string `json:"mfaAuthenticated"`
			} `json:"attributes"`
			SourceIdentity string `json:"sourceIdentity"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	EventTime           string          `json:"eventTime"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	AWSRegion           string          `json:"awsRegion"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	ErrorCode           string          `json:"errorCode"`
	ErrorMessage        string          `json:"errorMessage"`
	RequestParameters   json.RawMessage `json:"requestParameters"`
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData map[string]any  `json:"additionalEventData"`
	RequestID           string          `json:"requestID"`
	EventID             string          `json:"eventID"`
	ReadOnly            *bool           `json:"readOnly"`
	Resources           []struct {
		Type string `json:"type"`
		ARN  string `json:"ARN"`
	} `json:"resources"`
	EventType          string `json:"eventType"`
	ManagementEvent    *bool  `json:"managementEvent"`
	RecipientAccountID string `json:"recipientAccountId"`
	EventCategory      string `json:"eventCategory"`
	TLSDetails         *struct {
		TLSVersion string `json:"tlsVersion"`
		Host       string `json:"clientProvidedHostHeader"`
	} `json:"tlsDetails"`
}

// canonicalKey derives the principal key the way trailwatch's decoders do,
// independently of the generator's own bookkeeping.
func canonicalKey(c *ctRecord) string {
	u := &c.UserIdentity
	switch u.Type {
	case "Root":
		return u.AccountID
	case "IAMUser":
		return u.ARN
	case "AssumedRole", "FederatedUser":
		if u.SessionContext == nil {
			return ""
		}
		return u.SessionContext.SessionIssuer.ARN
	case "AWSService":
		return u.InvokedBy
	case "IdentityCenterUser":
		s, _ := c.AdditionalEventData["UserName"].(string)
		return s
	}
	return ""
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// flowKey derives a flow principal: instance-id when present, else interface-id.
func flowKey(f []string, format FlowFormat) string {
	if format == FlowV5 && f[16] != "-" {
		return f[16]
	}
	return f[2]
}

func TestRecordsValid(t *testing.T) {
	t.Parallel()
	cfg := smallConfig(3)
	cfg.Duration = 26 * time.Hour // a day boundary, and the night
	cfg.Principals = 150
	cfg.RatePerMinute = 0.2
	g := mustNew(t, cfg)
	var r Record
	var last time.Time
	seenType := map[string]int{}
	seenErr := map[string]int{}
	seenFlow := map[string]int{}
	ids := map[string]bool{}
	var ct, ctErr, ctPlain int
	var sso, srcIdentity, webID, s3Bytes bool
	for g.Next(&r) {
		if r.Time.Before(last) {
			t.Fatalf("time went back: %s after %s", r.Time, last)
		}
		last = r.Time
		if r.Time.Before(cfg.Start) && !cfg.Start.IsZero() {
			t.Fatalf("record before start: %s", r.Time)
		}
		if r.Kind == VPCFlow {
			f := strings.Fields(string(r.Body))
			if len(f) != r.Format.Fields() {
				t.Fatalf("%s line has %d fields, want %d: %s", r.Format, len(f), r.Format.Fields(), r.Body)
			}
			if want := map[FlowFormat]string{FlowV2: "2", FlowV5: "5"}[r.Format]; f[0] != want {
				t.Fatalf("version %s in a %s line", f[0], r.Format)
			}
			if k := flowKey(f, r.Format); k != r.Principal {
				t.Fatalf("flow principal %q, line says %q: %s", r.Principal, k, r.Body)
			}
			if f[1] != r.Account {
				t.Fatalf("account %s, line says %s", r.Account, f[1])
			}
			status := f[13]
			seenFlow[r.Format.String()+"/"+status]++
			if status == "OK" {
				start, err1 := strconv.ParseInt(f[10], 10, 64)
				end, err2 := strconv.ParseInt(f[11], 10, 64)
				if err1 != nil || err2 != nil || start != r.Time.Unix() || end < start {
					t.Fatalf("bad start/end for %s: %s", r.Time, r.Body)
				}
				if r.Format == FlowV5 {
					seenFlow[f[27]]++ // flow-direction
				}
			}
			continue
		}
		ct++
		if n := len(r.Body); n < 512 || n > 5120 {
			t.Fatalf("body of %d bytes: %s", n, r.Body)
		}
		var c ctRecord
		if err := json.Unmarshal(r.Body, &c); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, r.Body)
		}
		if et, err := time.Parse(time.RFC3339, c.EventTime); err != nil || !et.Equal(r.Time) || !strings.HasSuffix(c.EventTime, "Z") {
			t.Fatalf("eventTime %q vs record time %s (%v)", c.EventTime, r.Time, err)
		}
		if k := canonicalKey(&c); k == "" || k != r.Principal {
			t.Fatalf("principal %q, body says %q: %s", r.Principal, k, r.Body)
		}
		switch {
		case c.EventVersion == "", c.EventSource == "", c.EventName == "", c.SourceIPAddress == "", c.UserAgent == "",
			c.RequestID == "", c.ReadOnly == nil, c.ManagementEvent == nil, c.EventType != "AwsApiCall",
			c.RecipientAccountID != r.Account, c.AWSRegion != r.Region, c.EventCategory == "",
			c.RequestParameters == nil, c.ResponseElements == nil:
			t.Fatalf("missing or inconsistent field: %s", r.Body)
		case !uuidRe.MatchString(c.EventID):
			t.Fatalf("eventID %q not UUID-shaped", c.EventID)
		case ids[c.EventID]:
			t.Fatalf("duplicate eventID %s", c.EventID)
		case c.UserIdentity.Type != "AWSService" && (c.TLSDetails == nil || c.TLSDetails.Host == ""):
			t.Fatalf("no tlsDetails: %s", r.Body)
		case (c.ErrorCode == "") != (c.ErrorMessage == ""):
			t.Fatalf("errorCode without errorMessage: %s", r.Body)
		}
		ids[c.EventID] = true
		typ := c.UserIdentity.Type
		if strings.Contains(c.UserIdentity.ARN, "AWSReservedSSO_") {
			sso = true
			if !strings.Contains(r.Principal, ":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_") {
				t.Fatalf("SSO key %q", r.Principal)
			}
		}
		if sc := c.UserIdentity.SessionContext; sc != nil {
			srcIdentity = srcIdentity || sc.SourceIdentity != ""
			webID = webID || sc.WebIDFederationData["federatedProvider"] != nil
			if typ == "AssumedRole" && (sc.Attributes.CreationDate == "" || !strings.HasPrefix(c.UserIdentity.AccessKeyID, "ASIA")) {
				t.Fatalf("session without creationDate or ASIA key: %s", r.Body)
			}
		}
		if typ == "IAMUser" && !strings.HasPrefix(c.UserIdentity.AccessKeyID, "AKIA") && !strings.HasPrefix(c.UserIdentity.AccessKeyID, "ASIA") {
			t.Fatalf("IAM user key %q", c.UserIdentity.AccessKeyID)
		}
		if c.EventSource == "s3.amazonaws.com" && (c.EventName == "GetObject" || c.EventName == "PutObject") {
			_, out := c.AdditionalEventData["bytesTransferredOut"].(float64)
			_, in := c.AdditionalEventData["bytesTransferredIn"].(float64)
			if !out || !in {
				t.Fatalf("S3 object call without byte counts: %s", r.Body)
			}
			s3Bytes = true
		}
		seenType[typ]++
		if r.Incident == "" {
			ctPlain++
			if c.ErrorCode != "" {
				ctErr++
			}
		}
		if c.ErrorCode != "" {
			seenErr[c.ErrorCode]++
		}
	}
	for _, typ := range []string{"Root", "IAMUser", "AssumedRole", "FederatedUser", "AWSService", "IdentityCenterUser"} {
		if seenType[typ] == 0 {
			t.Errorf("no %s records (%v)", typ, seenType)
		}
	}
	for _, code := range []string{"AccessDenied", "AccessDeniedException", "NoSuchKey", "ThrottlingException", "Client.UnauthorizedOperation"} {
		if seenErr[code] == 0 {
			t.Errorf("no %s errors (%v)", code, seenErr)
		}
	}
	for _, k := range []string{"v2/OK", "v2/NODATA", "v5/OK", "v5/NODATA", "ingress", "egress"} {
		if seenFlow[k] == 0 {
			t.Errorf("no %s flows (%v)", k, seenFlow)
		}
	}
	if !sso || !srcIdentity || !webID || !s3Bytes {
		t.Errorf("missing shapes: sso=%v sourceIdentity=%v webIdFederation=%v s3 bytes=%v", sso, srcIdentity, webID, s3Bytes)
	}
	if rate := float64(ctErr) / float64(ctPlain); rate < 0.015 || rate > 0.06 {
		t.Errorf("error rate %.3f, want about %.2f", rate, cfg.ErrorRate)
	}
	if s := g.Stats(); s.CloudTrail != int64(ct) {
		t.Errorf("stats count %d CloudTrail records, saw %d", s.CloudTrail, ct)
	}
}

func TestPrincipals(t *testing.T) {
	g := mustNew(t, smallConfig(5))
	ps := g.Principals()
	keys := map[string]PrincipalInfo{}
	types := map[ingest.PrincipalType]bool{}
	for _, p := range ps {
		if _, dup := keys[p.Key]; dup || p.Key == "" {
			t.Fatalf("duplicate or empty key %q", p.Key)
		}
		keys[p.Key] = p
		types[p.Type] = true
	}
	for _, typ := range []ingest.PrincipalType{ingest.PrincipalRoot, ingest.PrincipalIAMUser, ingest.PrincipalAssumedRole,
		ingest.PrincipalFederatedUser, ingest.PrincipalAWSService, ingest.PrincipalIdentityCenterUser,
		ingest.PrincipalInstance, ingest.PrincipalNetworkInterface} {
		if !types[typ] {
			t.Errorf("no principal of type %s", typ)
		}
	}
	var r Record
	for g.Next(&r) {
		if _, ok := keys[r.Principal]; !ok {
			t.Fatalf("record principal %q not in Principals()", r.Principal)
		}
	}
	if pd := g.Stats().PrincipalDays; pd <= 0 || pd > int64(len(ps)) {
		t.Errorf("principal-days %d for %d principals over 6h", pd, len(ps))
	}
}

func TestRhythm(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 11, Principals: 200, NoFlows: true, Duration: 7 * 24 * time.Hour,
		Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), RatePerMinute: 0.1} // a Monday
	g := mustNew(t, cfg)
	human := map[string]bool{}
	for _, p := range g.Principals() {
		human[p.Key] = p.Human
	}
	var byHour [2][24]float64 // [human?][hour], weekdays only
	var byDay [2][7]float64
	var r Record
	for g.Next(&r) {
		if r.Kind != CloudTrail {
			continue
		}
		h := 0
		if human[r.Principal] {
			h = 1
		}
		day := int(r.Time.Sub(cfg.Start) / (24 * time.Hour))
		byDay[h][day]++
		if day < 5 {
			byHour[h][r.Time.Hour()]++
		}
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	dayH, nightH := mean(byHour[1][9:17]), mean(byHour[1][0:5])
	if dayH < 8*nightH || dayH == 0 {
		t.Errorf("people: %.0f calls per daytime hour vs %.0f at night; want a clear working day", dayH, nightH)
	}
	weekday, weekend := mean(byDay[1][0:5]), mean(byDay[1][5:7])
	if weekend > 0.3*weekday {
		t.Errorf("people: %.0f calls per weekend day vs %.0f per weekday", weekend, weekday)
	}
	dayM, nightM := mean(byHour[0][9:17]), mean(byHour[0][0:5])
	if nightM < 0.7*dayM {
		t.Errorf("services: %.0f calls per night hour vs %.0f by day; want round the clock", nightM, dayM)
	}
	if we, wd := mean(byDay[0][5:7]), mean(byDay[0][0:5]); we < 0.8*wd {
		t.Errorf("services: %.0f calls per weekend day vs %.0f per weekday", we, wd)
	}
}

// metricWindows sums an incident principal's metric per 5-minute window over
// the whole run, from the record bodies.
func metricWindows(t *testing.T, cfg Config, incs []Incident) map[string]map[int64]float64 {
	g := mustNew(t, cfg)
	want := map[string]string{}
	for _, in := range incs {
		want[in.Principal] = in.Metric
	}
	out := map[string]map[int64]float64{}
	var r Record
	for g.Next(&r) {
		metric, ok := want[r.Principal]
		if !ok {
			continue
		}
		w := r.Time.Unix() / 300
		if out[r.Principal] == nil {
			out[r.Principal] = map[int64]float64{}
		}
		v := 0.0
		switch {
		case metric == MetricAPICalls && r.Kind == CloudTrail:
			v = 1
		case metric == MetricAPIErrors && r.Kind == CloudTrail:
			if bytes.Contains(r.Body, []byte(`"errorCode"`)) {
				v = 1
			}
		case metric == MetricEgressBytes && r.Kind == CloudTrail:
			var c ctRecord
			if err := json.Unmarshal(r.Body, &c); err != nil {
				t.Fatal(err)
			}
			if n, ok := c.AdditionalEventData["bytesTransferredOut"].(float64); ok && c.EventName == "GetObject" {
				v = n
			}
		case metric == MetricEgressBytes && r.Kind == VPCFlow:
			f := strings.Fields(string(r.Body))
			if f[13] == "OK" && strings.HasPrefix(f[3], "10.") && !strings.HasPrefix(f[4], "10.") {
				v, _ = strconv.ParseFloat(f[9], 64)
			}
		}
		out[r.Principal][w] += v
	}
	return out
}

func TestIncidents(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 21, Principals: 300, Duration: 24 * time.Hour, Incidents: true, WarmUp: 6 * time.Hour}
	g := mustNew(t, cfg)
	incs := g.Incidents()
	kinds := map[string]bool{}
	for i, in := range incs {
		kinds[in.Kind] = true
		if in.Start.Before(cfg.withDefaults().Start.Add(cfg.WarmUp)) || !in.End.After(in.Start) {
			t.Errorf("%s: window %s..%s not after the warm-up", in.ID, in.Start, in.End)
		}
		if i > 0 && in.Start.Before(incs[i-1].End) {
			t.Errorf("%s overlaps %s", in.ID, incs[i-1].ID)
		}
	}
	if len(kinds) != len(incSpecs) {
		t.Fatalf("incident kinds %v, want all %d", kinds, len(incSpecs))
	}

	byID := map[string]Incident{}
	for _, in := range incs {
		byID[in.ID] = in
	}
	injected := map[string]int{}
	firstSeen := map[string]time.Time{}
	var r Record
	for g.Next(&r) {
		if _, ok := firstSeen[r.Principal]; !ok {
			firstSeen[r.Principal] = r.Time
		}
		if r.Incident == "" {
			continue
		}
		in, ok := byID[r.Incident]
		switch {
		case !ok:
			t.Fatalf("record labelled with unknown incident %q", r.Incident)
		case r.Principal != in.Principal:
			t.Fatalf("%s record by %s, truth says %s", in.ID, r.Principal, in.Principal)
		case r.Time.Before(in.Start) || !r.Time.Before(in.End):
			t.Fatalf("%s record at %s outside %s..%s", in.ID, r.Time, in.Start, in.End)
		}
		injected[r.Incident]++
	}
	for _, in := range incs {
		if injected[in.ID] == 0 {
			t.Errorf("%s injected no records", in.ID)
		}
		if in.Kind == KindNewPrincipal && firstSeen[in.Principal].Before(in.Start) {
			t.Errorf("new principal %s seen at %s, before its incident at %s", in.Principal, firstSeen[in.Principal], in.Start)
		}
	}

	windows := metricWindows(t, cfg, incs)
	for _, in := range incs {
		w := windows[in.Principal]
		first, last := in.Start.Unix()/300, (in.End.Unix()-1)/300
		var normal []float64
		peakNormal := 0.0
		for i := cfg.withDefaults().Start.Unix() / 300; i < cfg.withDefaults().Start.Add(cfg.Duration).Unix()/300; i++ {
			if i < first || i > last {
				normal = append(normal, w[i])
				peakNormal = max(peakNormal, w[i])
			}
		}
		sort.Float64s(normal)
		median := max(normal[len(normal)/2], 1)
		minInc := -1.0
		for i := first; i <= last; i++ {
			if minInc < 0 || w[i] < minInc {
				minInc = w[i]
			}
		}
		t.Logf("%s: %s per 5m window: median %.0f, normal peak %.0f, incident minimum %.0f", in.ID, in.Metric, median, peakNormal, minInc)
		if minInc < 10*median {
			t.Errorf("%s: incident windows (min %.0f) not >= 10x the principal's median %.0f", in.ID, minInc, median)
		}
		if minInc < 2*peakNormal {
			t.Errorf("%s: incident windows (min %.0f) do not stand clear of the principal's normal peak %.0f", in.ID, minInc, peakNormal)
		}
	}
}

func TestIncidentsScheduling(t *testing.T) {
	cfg := smallConfig(9)
	cfg.IncidentsPerKind = 3
	cfg.Duration = 48 * time.Hour
	g := mustNew(t, cfg)
	if n := len(g.Incidents()); n != 3*len(incSpecs) {
		t.Errorf("%d incidents, want %d", n, 3*len(incSpecs))
	}
	// Too short a run: incidents that do not fit are left out, not squeezed.
	cfg.Duration, cfg.WarmUp = 2*time.Hour, 90*time.Minute
	if n := len(mustNew(t, cfg).Incidents()); n > 1 {
		t.Errorf("%d incidents in a 30-minute window", n)
	}
	cfg.Incidents = false
	if n := len(mustNew(t, cfg).Incidents()); n != 0 {
		t.Errorf("%d incidents with Incidents off", n)
	}
	// CloudTrail only: no flows, and no egress-spike incident.
	cfg = smallConfig(9)
	cfg.NoFlows = true
	g = mustNew(t, cfg)
	for _, in := range g.Incidents() {
		if in.Kind == KindEgressSpike {
			t.Errorf("egress spike scheduled without flows")
		}
	}
	var r Record
	for g.Next(&r) {
		if r.Kind == VPCFlow {
			t.Fatal("flow record with NoFlows")
		}
	}
}

func TestWriteFilesError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig(1)
	cfg.Duration = 10 * time.Minute
	if _, err := WriteFiles(file, mustNew(t, cfg), FileOptions{}); err == nil || !errors.Is(err, fs.ErrExist) && !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("WriteFiles into a file: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"negative principals", func(c *Config) { c.Principals = -1 }},
		{"too many principals", func(c *Config) { c.Principals = 1 << 25 }},
		{"negative duration", func(c *Config) { c.Duration = -time.Hour }},
		{"error rate", func(c *Config) { c.ErrorRate = 0.9 }},
		{"region with a quote", func(c *Config) { c.Regions = []string{`us-east-1"`} }},
		{"flow format", func(c *Config) { c.FlowFormat = 9 }},
		{"negative rate", func(c *Config) { c.RatePerMinute = -1 }},
		{"NaN rate", func(c *Config) { c.RatePerMinute = math.NaN() }},
		{"infinite flow rate", func(c *Config) { c.FlowsPerMinute = math.Inf(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			if _, err := New(c); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("New: %v, want ErrBadConfig", err)
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPartialMinute(t *testing.T) {
	t.Parallel()
	cfg := smallConfig(4)
	cfg.Duration = 90*time.Minute + 20*time.Second
	cfg.RatePerMinute = 5
	g := mustNew(t, cfg)
	end := cfg.withDefaults().Start.Add(cfg.Duration)
	var r Record
	for g.Next(&r) {
		if !r.Time.Before(end) {
			t.Fatalf("record at %s, run ends %s", r.Time, end)
		}
	}
	if g.Next(&r) {
		t.Fatal("Next after the end returned a record")
	}
}

var (
	ctNameRe   = regexp.MustCompile(`^AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_([A-Z2-7]{16})\.json(\.gz)?$`)
	flowNameRe = regexp.MustCompile(`^AWSLogs/(\d{12})/vpcflowlogs/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_vpcflowlogs_([a-z0-9-]+)_(fl-[0-9a-f]+)_(\d{8}T\d{4}Z)_([0-9a-f]{8})\.log(\.gz)?$`)
)

func TestWriteFiles(t *testing.T) {
	t.Parallel()
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			cfg := smallConfig(13)
			cfg.Duration = 2 * time.Hour
			dir := t.TempDir()
			st, err := WriteFiles(dir, mustNew(t, cfg), FileOptions{Plain: plain})
			if err != nil {
				t.Fatal(err)
			}
			var ctRecs, flowRecs int64
			var ctFiles, flowFiles int
			var onDisk int64
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, path)
				rel = filepath.ToSlash(rel)
				raw, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				onDisk += int64(len(raw))
				if gz := bytes.HasPrefix(raw, []byte{0x1f, 0x8b}); gz == plain || strings.HasSuffix(rel, ".gz") == plain {
					t.Fatalf("%s: gzip=%v with Plain=%v", rel, gz, plain)
				}
				body, _, err := ingest.DecompressBytes(raw)
				if err != nil {
					t.Fatalf("%s: %v", rel, err)
				}
				if m := ctNameRe.FindStringSubmatch(rel); m != nil {
					ctFiles++
					if m[1] != m[6] || m[2] != m[7] || m[3]+m[4]+m[5] != m[8][:8] {
						t.Fatalf("%s: directory and name disagree", rel)
					}
					from, _ := time.Parse("20060102T1504Z", m[8])
					var f struct {
						Records []ctRecord `json:"Records"`
					}
					if err := json.Unmarshal(body, &f); err != nil || len(f.Records) == 0 {
						t.Fatalf("%s: %v (%d records)", rel, err, len(f.Records))
					}
					for _, rec := range f.Records {
						et, _ := time.Parse(time.RFC3339, rec.EventTime)
						if rec.RecipientAccountID != m[1] || rec.AWSRegion != m[2] || et.Before(from) || !et.Before(from.Add(5*time.Minute)) {
							t.Fatalf("%s holds a record of %s %s at %s", rel, rec.RecipientAccountID, rec.AWSRegion, rec.EventTime)
						}
					}
					ctRecs += int64(len(f.Records))
					return nil
				}
				if m := flowNameRe.FindStringSubmatch(rel); m != nil {
					flowFiles++
					lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
					var format FlowFormat
					switch lines[0] {
					case HeaderV2:
						format = FlowV2
					case HeaderV5:
						format = FlowV5
					default:
						t.Fatalf("%s: first line %q is no header", rel, lines[0])
					}
					for _, l := range lines[1:] {
						if f := strings.Fields(l); len(f) != format.Fields() || f[1] != m[1] {
							t.Fatalf("%s: line %q", rel, l)
						}
					}
					flowRecs += int64(len(lines) - 1)
					return nil
				}
				t.Fatalf("unexpected file %s", rel)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if ctRecs != st.CloudTrailRecords || flowRecs != st.FlowRecords || ctFiles != st.CloudTrailFiles ||
				flowFiles != st.FlowFiles || onDisk != st.Bytes {
				t.Fatalf("stats %+v, found %d/%d records in %d/%d files, %d bytes", st, ctRecs, flowRecs, ctFiles, flowFiles, onDisk)
			}
			if ctRecs == 0 || flowRecs == 0 {
				t.Fatal("no records written")
			}
		})
	}
}

func TestWriteFilesDeterministic(t *testing.T) {
	t.Parallel()
	cfg := smallConfig(17)
	cfg.Duration = 30 * time.Minute
	tree := func() map[string][32]byte {
		dir := t.TempDir()
		if _, err := WriteFiles(dir, mustNew(t, cfg), FileOptions{}); err != nil {
			t.Fatal(err)
		}
		out := map[string][32]byte{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				out[rel] = sha256.Sum256(b)
			}
			return err
		})
		return out
	}
	a, b := tree(), tree()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d vs %d files", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("%s differs between runs", k)
		}
	}
}

func TestTruthRoundTrip(t *testing.T) {
	g := mustNew(t, smallConfig(19))
	var r Record
	for g.Next(&r) {
	}
	path := filepath.Join(t.TempDir(), "truth.json")
	want := g.Truth()
	if err := WriteTruth(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTruth(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats != want.Stats || len(got.Incidents) != len(want.Incidents) || !slices.Equal(got.Accounts, want.Accounts) {
		t.Fatalf("round trip: got %+v, want %+v", got, want)
	}
	for i := range want.Incidents {
		a, b := got.Incidents[i], want.Incidents[i]
		if a.ID != b.ID || a.Principal != b.Principal || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || a.Metric != b.Metric {
			t.Fatalf("incident %d: got %+v, want %+v", i, a, b)
		}
	}
	if want.Stats.Injected == 0 || want.Stats.PrincipalDays == 0 {
		t.Fatalf("empty stats %+v", want.Stats)
	}
}

func TestAliasTable(t *testing.T) {
	w := []float64{1, 2, 3, 4, 0}
	a := newAlias(w)
	r := newRNG(1)
	var n [5]int
	const draws = 200000
	for range draws {
		n[a.sample(&r)]++
	}
	for i, x := range w {
		want := x / 10 * draws
		if d := float64(n[i]) - want; d > 0.02*draws || d < -0.02*draws {
			t.Errorf("index %d drawn %d times, want about %.0f", i, n[i], want)
		}
	}
}

func TestPoisson(t *testing.T) {
	r := newRNG(2)
	for _, lambda := range []float64{0.3, 4, 25, 400, 1e6} {
		sum := 0.0
		const n = 20000
		for range n {
			sum += float64(r.poisson(lambda))
		}
		if m := sum / n; m < 0.95*lambda || m > 1.05*lambda {
			t.Errorf("poisson(%g): mean %g", lambda, m)
		}
	}
}
