package workload

import (
	"math"
	"strconv"
	"time"

	"github.com/trailwatch/trailwatch/ingest"
)

// Kind says which log a Record belongs to.
type Kind uint8

const (
	CloudTrail Kind = iota // one CloudTrail record (a JSON object)
	VPCFlow                // one VPC flow log line (no newline)
)

func (k Kind) String() string {
	if k == VPCFlow {
		return "vpcflow"
	}
	return "cloudtrail"
}

// Record is one generated log record. Body is only valid until the next call
// to Next; the strings are immutable and may be kept.
type Record struct {
	Time      time.Time // eventTime, or the flow's start
	Kind      Kind
	Body      []byte // one CloudTrail record JSON object, or one flow line
	Principal string // canonical principal key (see the package doc)
	Incident  string // the incident id when the record was injected by one, else ""
	Account   string // recipientAccountId, or the flow log's account
	Region    string // awsRegion, or the flow log's region
	FlowLog   string // flow log id (fl-...) for VPCFlow records
	Format    FlowFormat
}

// PrincipalInfo describes one principal of the organisation.
type PrincipalInfo struct {
	Key     string
	Type    ingest.PrincipalType // Instance or NetworkInterface for flow-log principals
	Account string               // "" for AWS services, which act in every account
	Human   bool                 // follows the working-day rhythm
	New     bool                 // first appears during its (new-principal) incident
}

// event kinds of pending records
const (
	evCT       uint8 = iota // an ordinary or injected API call
	evFlow                  // a flow record
	evNoData                // a NODATA flow record
	evCreate                // the admin's CreateUser before a new-principal incident
	evCreateAK              // the admin's CreateAccessKey before a new-principal incident
)

// pending is a record chosen for the current minute but not yet rendered.
// Everything about its body follows from seed, so it stays 16 bytes.
type pending struct {
	seed uint64
	who  uint32 // principal or ENI index
	inc  uint16 // incident index + 1, or 0
	sec  uint8  // second within the minute
	kind uint8
}

// Generator produces the records of one Config in event-time order. It is not
// safe for concurrent use.
type Generator struct {
	cfg  Config
	seed uint64

	accounts []string
	regions  []string
	azPrefix []string // per region, e.g. "use1"

	ps      []principal
	keys    []string // canonical keys, filled lazily
	human   alias
	humanI  []uint32
	machine alias
	machI   []uint32

	enis     []eni
	eniKeys  []string
	eniTable alias
	flowLogs []flowLog

	incs      []incState
	incidents []Incident

	// stream state
	start    time.Time
	nMinutes int64
	lastSecs int // seconds in the final minute (60 unless Duration is not whole minutes)
	minute   int64
	minTime  time.Time
	minStamp []byte // "YYYY-MM-DDTHH:MM:" of the current minute
	pend     []pending
	sorted   []pending
	cur      int
	buf      []byte
	scratch  []byte
	srcBuf   [40]byte // flow addresses, kept here so rendering does not allocate
	dstBuf   [40]byte

	stats Stats
	day   int64
	seenP []uint64 // bitsets of principals and ENIs seen on the current day
	seenE []uint64
}

type flowLog struct {
	id     string
	vpc    string
	format FlowFormat
}

// Stats counts what has been generated so far.
type Stats struct {
	CloudTrail    int64 // CloudTrail records
	Flows         int64 // flow records, NODATA included
	Errors        int64 // CloudTrail records with an errorCode
	Injected      int64 // records that carry an incident id
	PrincipalDays int64 // distinct (principal, UTC day) pairs with at least one record
}

// New builds the organisation of cfg (zero fields take DefaultConfig's
// values) and schedules its incidents.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg, seed: mix(uint64(cfg.Seed) ^ 0x7472_6169_6c77_6174)}
	g.start = cfg.Start
	g.nMinutes = int64((cfg.Duration + time.Minute - 1) / time.Minute)
	g.lastSecs = 60
	if rem := cfg.Duration % time.Minute; rem != 0 {
		g.lastSecs = int((rem + time.Second - 1) / time.Second)
	}
	g.buildAccounts()
	r := newRNG(hash2(g.seed, saltOrg))
	w := g.buildPrincipals(&r)
	ew := g.buildENIs(&r)
	g.scheduleIncidents(w, ew)
	g.buildTables(w, ew)
	if len(g.keys) != len(g.ps) {
		g.keys = make([]string, len(g.ps))
		g.eniKeys = make([]string, len(g.enis))
	}
	g.seenP = make([]uint64, (len(g.ps)+63)/64)
	g.seenE = make([]uint64, (len(g.enis)+63)/64)
	g.day = -1
	g.buf = make([]byte, 0, 8192)
	return g, nil
}

// Config returns the configuration in use, defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// Stats returns counts of what Next has produced so far.
func (g *Generator) Stats() Stats { return g.stats }

// Accounts returns the organisation's account ids.
func (g *Generator) Accounts() []string { return append([]string(nil), g.accounts...) }

// Incidents returns the ground truth: every scheduled incident, in start order.
func (g *Generator) Incidents() []Incident { return append([]Incident(nil), g.incidents...) }

// Principals lists every principal: CloudTrail identities (including the
// not-yet-existing ones of new-principal incidents) and flow-log
// instances/ENIs, with the key each is counted under.
func (g *Generator) Principals() []PrincipalInfo {
	out := make([]PrincipalInfo, 0, len(g.ps)+len(g.enis))
	for i := range g.ps {
		p := &g.ps[i]
		pi := PrincipalInfo{Key: g.key(uint32(i)), Type: p.ingestType(), Human: p.human, New: p.typ == pIAMUser && p.style == styleNew}
		if p.typ != pService {
			pi.Account = g.accounts[p.acct]
		}
		out = append(out, pi)
	}
	for i := range g.enis {
		e := &g.enis[i]
		pi := PrincipalInfo{Key: g.eniKey(uint32(i)), Type: ingest.PrincipalNetworkInterface, Account: g.accounts[e.acct]}
		if e.instance && g.flowLogs[g.flowLogOf(e)].format == FlowV5 {
			pi.Type = ingest.PrincipalInstance
		}
		out = append(out, pi)
	}
	return out
}

func (g *Generator) key(i uint32) string {
	if k := g.keys[i]; k != "" {
		return k
	}
	g.scratch = g.appendKey(g.scratch[:0], &g.ps[i])
	g.keys[i] = string(g.scratch)
	return g.keys[i]
}

func (g *Generator) eniKey(i uint32) string {
	if k := g.eniKeys[i]; k != "" {
		return k
	}
	e := &g.enis[i]
	if e.instance && g.flowLogs[g.flowLogOf(e)].format == FlowV5 {
		g.scratch = g.appendInstanceID(g.scratch[:0], e.n)
	} else {
		g.scratch = g.appendENIID(g.scratch[:0], e.n)
	}
	g.eniKeys[i] = string(g.scratch)
	return g.eniKeys[i]
}

func (g *Generator) flowLogOf(e *eni) int { return int(e.acct)*len(g.regions) + int(e.region) }

func (g *Generator) buildAccounts() {
	c := &g.cfg
	g.regions = c.Regions
	for i := 0; i < c.Accounts; i++ {
		v := hash3(g.seed, saltAccount, uint64(i))%900_000_000_000 + 100_000_000_000
		g.accounts = append(g.accounts, strconv.FormatUint(v, 10))
	}
	for _, reg := range g.regions {
		g.azPrefix = append(g.azPrefix, azPrefix(reg))
	}
	for a := range g.accounts {
		for ri := range g.regions {
			var b []byte
			b = append(b, "fl-0"...)
			b = appendHex(b, hash3(g.seed, saltFlowLog, uint64(a*64+ri)), 16)
			f := flowLog{id: string(b)}
			b = append(b[:0], "vpc-0"...)
			b = appendHex(b, hash3(g.seed, saltVPC, uint64(a*64+ri)), 16)
			f.vpc = string(b)
			switch c.FlowFormat {
			case FlowMixed:
				f.format = FlowV2
				if (a*len(g.regions)+ri)%2 == 1 {
					f.format = FlowV5
				}
			default:
				f.format = c.FlowFormat
			}
			g.flowLogs = append(g.flowLogs, f)
		}
	}
}

// azPrefix turns "us-east-1" into "use1", the prefix of its AZ ids.
func azPrefix(region string) string {
	var b []byte
	part := 0
	for i := 0; i < len(region); i++ {
		c := region[i]
		switch {
		case c == '-':
			part++
		case i == 0 || i > 0 && region[i-1] == '-':
			if part < 2 || c >= '0' && c <= '9' {
				b = append(b, c)
			}
		case part == 0 && i == 1:
			b = append(b, c)
		case c >= '0' && c <= '9':
			b = append(b, c)
		}
	}
	return string(b)
}

// IAM user styles.
const (
	stylePerson  uint8 = 0
	styleMachine uint8 = 1
	styleNew     uint8 = 2 // created during a new-principal incident
)

// buildPrincipals lays out the organisation and returns the activity weight
// of each principal (mean 1 over all of them).
func (g *Generator) buildPrincipals(r *rng) []float64 {
	c := &g.cfg
	n := c.Principals
	nRoot := 0
	if n >= 8*c.Accounts {
		nRoot = c.Accounts
	}
	nSvc := min(len(services), max(1, n/25))
	if n < 4 {
		nSvc = 0
	}
	rest := n - nRoot - nSvc
	// Remaining principals: IAM users 30%, roles 35%, SSO roles 10%,
	// federation brokers 5%, Identity Center users 20%.
	counts := [...]int{0, 0, 0, 0}
	shares := [...]float64{0.30, 0.35, 0.10, 0.05}
	for i, s := range shares {
		counts[i] = int(math.Round(float64(rest) * s))
	}
	nIdC := rest - counts[0] - counts[1] - counts[2] - counts[3]
	if nIdC < 0 {
		counts[1] += nIdC
		nIdC = 0
	}
	g.ps = make([]principal, 0, n)
	add := func(t ptype, k int, f func(p *principal)) {
		for i := 0; i < k; i++ {
			p := principal{typ: t, n: uint32(i)}
			p.acct = uint16(r.intn(len(g.accounts)))
			p.region = uint8(0)
			if r.chance(0.3) {
				p.region = uint8(r.intn(len(g.regions)))
			}
			f(&p)
			g.ps = append(g.ps, p)
		}
	}
	add(pRoot, nRoot, func(p *principal) { p.acct = uint16(p.n); p.human = true })
	add(pService, nSvc, func(p *principal) {})
	add(pIAMUser, counts[0], func(p *principal) {
		if r.chance(0.4) {
			p.style = styleMachine
		} else {
			p.human = true
		}
	})
	add(pRole, counts[1], func(p *principal) {
		x := r.float()
		switch {
		case x < 0.30:
			p.style = roleTask
		case x < 0.55:
			p.style = roleLambda
		case x < 0.70:
			p.style = roleEC2
		case x < 0.80:
			p.style = roleCI
		default:
			p.style, p.human = roleHuman, true
		}
	})
	add(pSSO, counts[2], func(p *principal) { p.human = true })
	add(pFederated, counts[3], func(p *principal) { p.human = true })
	add(pIdC, nIdC, func(p *principal) { p.human = true; p.acct = 0 })

	w := zipfWeights(len(g.ps), c.ZipfS, r)
	for i := range g.ps {
		switch g.ps[i].typ {
		case pRoot:
			w[i] = 0.01 // root is rarely used
		case pService:
			w[i] *= 4 // a handful of services carry a lot of AssumeRole traffic
		}
	}
	return w
}

func (g *Generator) buildENIs(r *rng) []float64 {
	c := &g.cfg
	n := c.Instances + c.Instances/4
	g.enis = make([]eni, n)
	for i := range g.enis {
		g.enis[i] = eni{acct: uint16(r.intn(len(g.accounts))), region: uint8(r.intn(len(g.regions))), instance: i < c.Instances, n: uint32(i)}
	}
	return zipfWeights(n, c.ZipfS, r)
}

func (g *Generator) buildTables(w, ew []float64) {
	var hw, mw []float64
	for i := range g.ps {
		p := &g.ps[i]
		if p.typ == pIAMUser && p.style == styleNew {
			continue // only active during its incident
		}
		if p.human {
			g.humanI = append(g.humanI, uint32(i))
			hw = append(hw, w[i])
		} else {
			g.machI = append(g.machI, uint32(i))
			mw = append(mw, w[i])
		}
	}
	g.human = newAlias(hw)
	g.machine = newAlias(mw)
	g.eniTable = newAlias(ew)
}

// humanHourly is the share of peak activity of people by UTC hour.
var humanHourly = [24]float64{
	0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.10, 0.30, 0.70, 0.95, 1.00, 1.00,
	0.80, 0.90, 1.00, 1.00, 0.90, 0.70, 0.40, 0.22, 0.14, 0.10, 0.07, 0.05,
}

// humanFactor is the working-day rhythm: office hours in UTC, interpolated
// between hours, and weekends at a tenth of weekdays.
func humanFactor(t time.Time) float64 {
	h := t.Hour()
	frac := float64(t.Minute()) / 60
	f := humanHourly[h]*(1-frac) + humanHourly[(h+1)%24]*frac
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		f *= 0.08
	}
	return f
}

// machineFactor is the round-the-clock rhythm of workloads: flat within 10%,
// busiest around 02:00 when batch jobs run.
func machineFactor(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	return 0.9 + 0.1*math.Cos(2*math.Pi*(h-2)/24)
}

// fill prepares the next minute that has records; false at the end.
func (g *Generator) fill() bool {
	c := &g.cfg
	for g.minute < g.nMinutes {
		m := g.minute
		g.minute++
		t := g.start.Add(time.Duration(m) * time.Minute)
		g.minTime = t
		g.minStamp = t.AppendFormat(g.minStamp[:0], "2006-01-02T15:04:")
		secs := 60
		if m == g.nMinutes-1 {
			secs = g.lastSecs
		}
		scale := float64(secs) / 60
		r := newRNG(hash3(g.seed, saltMinute, uint64(m)))
		g.pend = g.pend[:0]
		add := func(kind uint8, who uint32, inc uint16) {
			g.pend = append(g.pend, pending{seed: r.u64(), who: who, inc: inc, sec: uint8(r.intn(secs)), kind: kind})
		}
		if g.human.len() > 0 {
			k := r.poisson(c.RatePerMinute * g.human.total * humanFactor(t) * scale)
			for range k {
				add(evCT, g.humanI[g.human.sample(&r)], 0)
			}
		}
		if g.machine.len() > 0 {
			k := r.poisson(c.RatePerMinute * g.machine.total * machineFactor(t) * scale)
			for range k {
				add(evCT, g.machI[g.machine.sample(&r)], 0)
			}
		}
		if g.eniTable.len() > 0 && !c.NoFlows {
			k := r.poisson(c.FlowsPerMinute * g.eniTable.total * scale)
			for range k {
				add(evFlow, uint32(g.eniTable.sample(&r)), 0)
			}
			k = r.poisson(0.01 * float64(len(g.enis)) * scale)
			for range k {
				add(evNoData, uint32(r.intn(len(g.enis))), 0)
			}
		}
		g.addIncidentEvents(m, &r, secs, add)
		if len(g.pend) == 0 {
			continue
		}
		g.sortPending()
		g.cur = 0
		return true
	}
	return false
}

// sortPending orders the minute's records by second, stably (counting sort).
func (g *Generator) sortPending() {
	var count [61]int
	for i := range g.pend {
		count[int(g.pend[i].sec)+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	if cap(g.sorted) < len(g.pend) {
		g.sorted = make([]pending, len(g.pend), cap(g.pend))
	}
	g.sorted = g.sorted[:len(g.pend)]
	for _, p := range g.pend {
		g.sorted[count[p.sec]] = p
		count[p.sec]++
	}
}

// Next renders the next record into r and reports whether there was one.
// Records come in non-decreasing event-time order; r.Body is only valid
// until the next call.
func (g *Generator) Next(r *Record) bool {
	for g.cur >= len(g.sorted) {
		if !g.fill() {
			g.sorted = g.sorted[:0]
			g.cur = 0
			return false
		}
	}
	e := &g.sorted[g.cur]
	g.cur++
	r.Time = g.minTime.Add(time.Duration(e.sec) * time.Second)
	r.Incident = ""
	if e.inc > 0 && e.kind != evCreate && e.kind != evCreateAK {
		r.Incident = g.incidents[e.inc-1].ID
		g.stats.Injected++
	}
	r.FlowLog, r.Format = "", FlowMixed
	switch e.kind {
	case evFlow, evNoData:
		en := &g.enis[e.who]
		fl := &g.flowLogs[g.flowLogOf(en)]
		r.Kind = VPCFlow
		r.Principal = g.eniKey(e.who)
		r.Account = g.accounts[en.acct]
		r.Region = g.regions[en.region]
		r.FlowLog, r.Format = fl.id, fl.format
		g.buf = g.renderFlow(g.buf[:0], e, en, fl, r.Time)
		g.stats.Flows++
		g.markSeen(g.seenE, e.who, r.Time)
	default:
		r.Kind = CloudTrail
		r.Principal = g.key(e.who)
		var acct, region uint16
		var isErr bool
		g.buf, acct, region, isErr = g.renderCT(g.buf[:0], e)
		r.Account = g.accounts[acct]
		if region == globalRegion {
			r.Region = "us-east-1"
		} else {
			r.Region = g.regions[region]
		}
		g.stats.CloudTrail++
		if isErr {
			g.stats.Errors++
		}
		g.markSeen(g.seenP, e.who, r.Time)
	}
	r.Body = g.buf
	return true
}

// globalRegion marks a record of a global service (IAM), recorded in us-east-1.
const globalRegion = math.MaxUint16

func (g *Generator) markSeen(set []uint64, i uint32, t time.Time) {
	day := t.Unix() / 86400
	if day != g.day {
		clear(g.seenP)
		clear(g.seenE)
		g.day = day
	}
	w, bit := i/64, uint64(1)<<(i%64)
	if set[w]&bit == 0 {
		set[w] |= bit
		g.stats.PrincipalDays++
	}
}
