package workload

import (
	"fmt"
	"strconv"
	"time"
)

// Incident kinds.
const (
	KindStolenKey    = "stolen-key-burst"    // an IAM user's key making hundreds of calls a minute from a new IP
	KindS3Exfil      = "s3-exfiltration"     // a role pulling far more S3 bytes than its baseline, over an hour
	KindEgressSpike  = "egress-spike"        // an instance sending GBs to an external address
	KindAccessDenied = "access-denied-storm" // a principal probing what it may do, mostly denied
	KindNewPrincipal = "new-principal-burst" // a freshly created IAM user bursting on its first day
)

// Metrics an incident should trip (the names trailwatch's detectors use).
const (
	MetricAPICalls    = "api_calls"
	MetricAPIErrors   = "api_errors"
	MetricEgressBytes = "egress_bytes"
)

// Incident is one injected incident: the ground truth a detector is scored
// against. Records it injected carry its ID in Record.Incident; the window is
// [Start, End) in event time.
type Incident struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Principal string    `json:"principal"` // canonical principal key
	Metric    string    `json:"metric"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Account   string    `json:"account,omitempty"`
	Peer      string    `json:"peer,omitempty"` // attacker source IP, or the egress destination
}

type incSpec struct {
	kind   string
	metric string
	dur    time.Duration
}

var incSpecs = [...]incSpec{
	{KindStolenKey, MetricAPICalls, 15 * time.Minute},
	{KindS3Exfil, MetricEgressBytes, 60 * time.Minute},
	{KindEgressSpike, MetricEgressBytes, 30 * time.Minute},
	{KindAccessDenied, MetricAPIErrors, 10 * time.Minute},
	{KindNewPrincipal, MetricAPICalls, 20 * time.Minute},
}

// incState is what rendering needs about an incident.
type incState struct {
	spec     int    // index into incSpecs
	who      uint32 // principal or ENI index
	admin    uint32 // creator of a new principal (evCreate/evCreateAK), or noAdmin
	startMin int64  // minute index of Start
	endMin   int64  // minute index of End (exclusive)
	perMin   float64
	ip       string // source IP of injected calls, or the egress destination
	ua       string // user agent of injected calls ("" keeps the principal's own)
}

const noAdmin = ^uint32(0)

var attackerAgents = [...]string{
	"python-requests/2.31.0",
	"Boto3/1.26.137 Python/3.8.10 Linux/5.4.0-148-generic Botocore/1.29.137",
	"aws-cli/1.18.69 Python/2.7.18 Linux/4.14.314-237.533.amzn2.x86_64 botocore/1.16.19",
	"Go-http-client/1.1",
	"aws-sdk-go/1.44.190 (go1.19.5; linux; amd64)",
}

// scheduleIncidents places IncidentsPerKind incidents of each kind after the
// warm-up, one per equal slot of the remaining time so they never overlap,
// and picks moderately active victims (so there is a baseline to beat, but
// not one so busy that the incident would drown in it). w and ew are the
// activity weights of principals and ENIs.
func (g *Generator) scheduleIncidents(w, ew []float64) {
	c := &g.cfg
	if !c.Incidents {
		return
	}
	r := newRNG(hash2(g.seed, saltIncident))
	var order []int
	for range c.IncidentsPerKind {
		for k := range incSpecs {
			order = append(order, k)
		}
	}
	for i := len(order) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	warm := int64(c.WarmUp / time.Minute)
	span := g.nMinutes - 1 - warm // the last (maybe partial) minute is never used
	if span <= 0 || len(order) == 0 {
		return
	}
	slot := span / int64(len(order))
	used := map[uint32]bool{}
	usedENI := map[uint32]bool{}
	nNew := 0
	for i, k := range order {
		sp := incSpecs[k]
		dur := int64(sp.dur / time.Minute)
		if slot < dur+4 {
			continue
		}
		st := incState{spec: k, admin: noAdmin, perMin: 0}
		st.startMin = warm + int64(i)*slot + 3 + int64(r.intn(int(slot-dur-3)))
		st.endMin = st.startMin + dur
		inc := Incident{Kind: sp.kind, Metric: sp.metric,
			Start: g.start.Add(time.Duration(st.startMin) * time.Minute),
			End:   g.start.Add(time.Duration(st.endMin) * time.Minute)}
		ok := true
		switch sp.kind {
		case KindStolenKey:
			st.who, ok = g.pickPrincipal(&r, w, used, func(p *principal) bool { return p.typ == pIAMUser && p.style == stylePerson })
			st.perMin = max(200, 30*w[st.who]*c.RatePerMinute)
			st.ip = externalIP(&r)
			st.ua = attackerAgents[r.intn(len(attackerAgents))]
		case KindS3Exfil:
			st.who, ok = g.pickPrincipal(&r, w, used, func(p *principal) bool {
				return p.typ == pRole && (p.style == roleTask || p.style == roleLambda || p.style == roleEC2)
			})
			st.perMin = max(3, w[st.who]*c.RatePerMinute)
		case KindAccessDenied:
			st.who, ok = g.pickPrincipal(&r, w, used, func(p *principal) bool {
				return !p.human && (p.typ == pRole && p.style != roleCI || p.typ == pIAMUser)
			})
			st.perMin = max(120, 30*w[st.who]*c.RatePerMinute)
		case KindNewPrincipal:
			st.who = uint32(len(g.ps))
			acct := uint16(r.intn(len(g.accounts)))
			g.ps = append(g.ps, principal{typ: pIAMUser, style: styleNew, acct: acct, n: uint32(nNew)})
			w = append(w, 0)
			nNew++
			st.perMin = 150
			st.ip = externalIP(&r)
			st.ua = attackerAgents[r.intn(len(attackerAgents))]
			if a, found := g.pickPrincipal(&r, w, used, func(p *principal) bool {
				return p.acct == acct && p.human && (p.typ == pIAMUser || p.typ == pSSO)
			}); found {
				st.admin = a
			}
		case KindEgressSpike:
			if c.NoFlows {
				continue
			}
			st.who, ok = pickENI(&r, g.enis, ew, usedENI)
			st.perMin = 4
			st.ip = externalIP(&r)
		}
		if !ok {
			continue
		}
		if sp.kind == KindEgressSpike {
			usedENI[st.who] = true
			inc.Account = g.accounts[g.enis[st.who].acct]
		} else {
			used[st.who] = true
			inc.Account = g.accounts[g.ps[st.who].acct]
		}
		inc.Peer = st.ip
		g.incs = append(g.incs, st)
		g.incidents = append(g.incidents, inc)
	}
	// Keys need the final principal table (new principals were appended).
	g.keys = make([]string, len(g.ps))
	g.eniKeys = make([]string, len(g.enis))
	for i := range g.incidents {
		st := &g.incs[i]
		if incSpecs[st.spec].kind == KindEgressSpike {
			g.incidents[i].Principal = g.eniKey(st.who)
		} else {
			g.incidents[i].Principal = g.key(st.who)
		}
		g.incidents[i].ID = fmt.Sprintf("inc-%03d-%s", i+1, g.incidents[i].Kind)
	}
}

// pickPrincipal picks a principal matching ok whose weight is moderate
// (between a third and three times the mean), falling back to any match.
// It samples at random rather than scanning, so it is cheap for a million
// principals.
func (g *Generator) pickPrincipal(r *rng, w []float64, used map[uint32]bool, ok func(*principal) bool) (uint32, bool) {
	n := len(g.ps)
	for pass := 0; pass < 2; pass++ {
		for range 4096 {
			i := uint32(r.intn(n))
			p := &g.ps[i]
			if used[i] || !ok(p) || p.typ == pIAMUser && p.style == styleNew {
				continue
			}
			if pass == 0 && (w[i] < 0.33 || w[i] > 3) {
				continue
			}
			return i, true
		}
	}
	for i := range g.ps { // rare: few candidates
		if !used[uint32(i)] && ok(&g.ps[i]) && !(g.ps[i].typ == pIAMUser && g.ps[i].style == styleNew) {
			return uint32(i), true
		}
	}
	return 0, false
}

func pickENI(r *rng, enis []eni, w []float64, used map[uint32]bool) (uint32, bool) {
	for pass := 0; pass < 2; pass++ {
		for range 4096 {
			i := uint32(r.intn(len(enis)))
			if used[i] || !enis[i].instance || pass == 0 && (w[i] < 0.33 || w[i] > 3) {
				continue
			}
			return i, true
		}
	}
	for i := range enis {
		if !used[uint32(i)] {
			return uint32(i), true
		}
	}
	return 0, false
}

// externalIP returns an address from ranges the organisation never uses
// (hosting ranges often seen in attacks), so an injected source is "new".
func externalIP(r *rng) string {
	prefixes := [...]string{"185.220.101.", "45.134.26.", "194.26.192.", "91.92.240.", "5.188.206."}
	return prefixes[r.intn(len(prefixes))] + strconv.Itoa(r.between(2, 254))
}

// addIncidentEvents adds the injected records of every incident active in
// minute m (and the admin's account creation just before a new principal's).
func (g *Generator) addIncidentEvents(m int64, r *rng, secs int, add func(kind uint8, who uint32, inc uint16)) {
	for i := range g.incs {
		st := &g.incs[i]
		inc := uint16(i + 1)
		if incSpecs[st.spec].kind == KindNewPrincipal && st.admin != noAdmin {
			switch m {
			case st.startMin - 3:
				add(evCreate, st.admin, inc)
			case st.startMin - 2:
				add(evCreateAK, st.admin, inc)
			}
		}
		if m < st.startMin || m >= st.endMin {
			continue
		}
		kind := evCT
		if incSpecs[st.spec].kind == KindEgressSpike {
			kind = evFlow
		}
		k := r.poisson(st.perMin * float64(secs) / 60)
		for range max(k, 1) {
			add(kind, st.who, inc)
		}
	}
}
