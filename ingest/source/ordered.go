package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/trailwatch/trailwatch/ingest"
)

// Unit is one input to decode: a file, stdin, or an S3 object.
type Unit struct {
	Name string // as shown in positions and reports: a path, "-" or s3://bucket/key
	Size int64  // bytes as stored (compressed), -1 when unknown
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// DecodeFunc decodes one unit's stream into sink. It returns an error only for
// what stops the stream (I/O, corrupt compression); record problems go to the sink.
type DecodeFunc func(r io.Reader, pos ingest.Position, sink ingest.Sink) error

// Rejected is a rejected record, copied out of the decoder's buffers.
type Rejected struct {
	Reason ingest.Reason
	Detail string
	Pos    ingest.Position
	Raw    []byte
}

// Chunk is a slice of one unit's output. A unit's chunks arrive in order and
// the last one has Last set, with Err holding what stopped the unit early.
type Chunk struct {
	Unit     int
	Name     string
	Events   []ingest.Event
	Insights []ingest.Event
	Rejects  []Rejected
	Skips    map[ingest.Reason]int64
	Bytes    int64 // stored bytes read since the previous chunk
	Last     bool
	Err      error // set on the last chunk when the unit failed (open, read or corrupt data)
}

// Options configure a Reader.
type Options struct {
	Parallelism int // units decoded at once; default 2
	ChunkEvents int // events per chunk; default 4096
	Ahead       int // units in flight beyond the one being consumed; default Parallelism+1
}

// ErrStopped is returned when the consumer's deliver function asked to stop.
var ErrStopped = errors.New("source: stopped by consumer")

// Read decodes units with newDecoder (called once per worker goroutine) and
// calls deliver with every chunk, in unit order and within a unit in stream
// order. deliver runs on the calling goroutine only, and must not keep c or
// its slices after it returns: chunks are recycled, because allocating a
// fresh one per file cost a replay of small files more than decoding them.
// Read returns when all units are delivered, ctx is cancelled, or deliver
// returns an error.
func Read(ctx context.Context, units []Unit, newDecoder func() DecodeFunc, opts Options, deliver func(*Chunk) error) error {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 2
	}
	if opts.ChunkEvents <= 0 {
		opts.ChunkEvents = defaultChunkEvents
	}
	if opts.Ahead <= 0 {
		opts.Ahead = opts.Parallelism + 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	chans := make([]chan *Chunk, len(units))
	for i := range chans {
		chans[i] = make(chan *Chunk, 2)
	}
	slots := make(chan struct{}, opts.Ahead)
	free := make(chan *Chunk, 2*(opts.Ahead+opts.Parallelism))
	var next atomic.Int64
	var wg sync.WaitGroup
	// Units are claimed in order, each after taking a slot; the consumer frees
	// a slot when it finishes a unit, so the unit it waits for always runs.
	var claim sync.Mutex
	for w := 0; w < opts.Parallelism; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := newDecoder()
			for {
				claim.Lock()
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					claim.Unlock()
					return
				}
				i := int(next.Add(1) - 1)
				claim.Unlock()
				if i >= len(units) {
					return
				}
				decodeUnit(ctx, i, units[i], dec, opts.ChunkEvents, chans[i], free)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	for i := range units {
		for {
			var c *Chunk
			select {
			case c = <-chans[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := deliver(c); err != nil {
				return err
			}
			last := c.Last
			recycle(c, free)
			if last {
				break
			}
		}
		<-slots
	}
	return nil
}

// decodeUnit runs one unit through dec, sending chunks to out. It never
// blocks forever: a cancelled ctx aborts sending.
func decodeUnit(ctx context.Context, i int, u Unit, dec DecodeFunc, chunkEvents int, out chan<- *Chunk, free chan *Chunk) {
	s := &chunkSink{ctx: ctx, unit: i, name: u.Name, max: chunkEvents, out: out, free: free}
	s.reset()
	rc, err := u.Open(ctx)
	if err != nil {
		s.finish(fmt.Errorf("open %s: %w", u.Name, err))
		return
	}
	cr := &countingReader{r: rc, s: s}
	err = dec(cr, ingest.FilePos(u.Name), s)
	if cerr := rc.Close(); err == nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
		err = fmt.Errorf("close %s: %w", u.Name, cerr)
	}
	if s.aborted {
		return
	}
	s.finish(err)
}

type countingReader struct {
	r io.Reader
	s *chunkSink
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.cur.Bytes += int64(n)
	return n, err
}

// chunkSink collects a unit's output into chunks.
type chunkSink struct {
	ctx     context.Context
	unit    int
	name    string
	max     int
	out     chan<- *Chunk
	free    chan *Chunk // delivered chunks, for reuse
	cur     *Chunk
	aborted bool
}

func (s *chunkSink) reset() {
	select {
	case c := <-s.free:
		c.Unit, c.Name = s.unit, s.name
		s.cur = c
	default:
		s.cur = &Chunk{Unit: s.unit, Name: s.name, Events: make([]ingest.Event, 0, min(s.max, 256))}
	}
}

// recycle empties a delivered chunk into the free list (or drops it when the
// list is full). Old events stay in the slices' spare capacity until
// overwritten; they hold only interned strings, bounded by the list's size.
func recycle(c *Chunk, free chan *Chunk) {
	if cap(c.Events) > 4*defaultChunkEvents {
		return // an unusually large chunk: let it go
	}
	c.Events = c.Events[:0]
	c.Insights = c.Insights[:0]
	clear(c.Rejects) // their Raw copies may be large
	c.Rejects = c.Rejects[:0]
	clear(c.Skips)
	c.Bytes, c.Last, c.Err = 0, false, nil
	select {
	case free <- c:
	default:
	}
}

// defaultChunkEvents is the default Options.ChunkEvents; a recycled chunk keeps at
// most a few times this.
const defaultChunkEvents = 4096

func (s *chunkSink) send(c *Chunk) {
	if s.aborted {
		return
	}
	select {
	case s.out <- c:
	case <-s.ctx.Done():
		s.aborted = true
	}
}

func (s *chunkSink) Event(ev *ingest.Event) {
	s.cur.Events = append(s.cur.Events, *ev)
	if len(s.cur.Events) >= s.max {
		s.send(s.cur)
		s.reset()
	}
}

func (s *chunkSink) Insight(ev *ingest.Event, _ []byte) {
	s.cur.Insights = append(s.cur.Insights, *ev)
}

func (s *chunkSink) Reject(r *ingest.Reject) {
	s.cur.Rejects = append(s.cur.Rejects, Rejected{
		Reason: r.Reason, Detail: r.Detail, Pos: r.Pos, Raw: append([]byte(nil), r.Raw...),
	})
}

func (s *chunkSink) Skip(reason ingest.Reason, _ ingest.Position) {
	if s.cur.Skips == nil {
		s.cur.Skips = make(map[ingest.Reason]int64)
	}
	s.cur.Skips[reason]++
}

func (s *chunkSink) finish(err error) {
	s.cur.Last = true
	s.cur.Err = err
	s.send(s.cur)
}
