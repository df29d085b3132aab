package workload

import (
	"strconv"
	"time"
)

// Flow patterns of an ordinary ENI, by share of its records.
const (
	flowEastWestOut = iota // to another instance in the VPC
	flowEastWestIn         // from another instance
	flowToAWS              // to S3/DynamoDB public endpoints
	flowToInternet         // package mirrors, SaaS APIs
	flowScan               // rejected probes from the internet
	flowDNS                // to the VPC resolver
)

var flowPatternCum = [...]float64{0.35, 0.65, 0.77, 0.87, 0.95, 1.0}

var eastWestPorts = [...]int{443, 5432, 6379, 8080, 9092, 3306, 2049, 8443}
var scanPorts = [...]int{22, 23, 3389, 445, 80, 8080, 5900, 1433}
var internetPrefixes = [...]string{"151.101.", "140.82.", "104.16.", "199.232.", "185.199."}
var scannerPrefixes = [...]string{"45.155.", "89.248.", "162.142.", "167.94.", "71.6."}

// flow is one flow record before formatting.
type flow struct {
	src, dst       []byte
	sport, dport   int
	proto          int
	packets, bytes int64
	start, end     int64
	action         string
	tcpFlags       int
	egress         bool
	srcSvc, dstSvc string
	trafficPath    string
	nodata         bool
	srcBuf, dstBuf [40]byte
}

// renderFlow appends the flow line of e in its flow log's format.
func (g *Generator) renderFlow(b []byte, e *pending, en *eni, fl *flowLog, t time.Time) []byte {
	r := newRNG(e.seed)
	var f flow
	f.start = t.Unix()
	f.end = f.start + int64(r.between(5, 59))
	self := appendPrivateIP(g.srcBuf[:0], en)
	switch {
	case e.kind == evNoData:
		f.nodata = true
	case e.inc > 0: // exfiltration to the incident's external address
		st := &g.incs[e.inc-1]
		f.src, f.dst = self, append(g.dstBuf[:0], st.ip...)
		f.sport, f.dport, f.proto = r.between(32768, 60999), 443, 6
		f.bytes = int64(r.logNormal(400<<20, 0.6, 100<<20, 2<<30))
		f.action, f.tcpFlags, f.egress, f.trafficPath = "ACCEPT", 3, true, "8"
	default:
		g.ordinaryFlow(&f, &r, en, self)
	}
	if !f.nodata && f.packets == 0 {
		f.packets = f.bytes/1200 + 1
	}
	if fl.format == FlowV5 {
		return g.appendFlowV5(b, &f, en, fl)
	}
	return g.appendFlowV2(b, &f, en)
}

func (g *Generator) ordinaryFlow(f *flow, r *rng, en *eni, self []byte) {
	x := r.float()
	pat := 0
	for pat < len(flowPatternCum)-1 && x >= flowPatternCum[pat] {
		pat++
	}
	peer := g.dstBuf[:0]
	f.proto, f.action, f.trafficPath = 6, "ACCEPT", "-"
	switch pat {
	case flowEastWestOut, flowEastWestIn:
		other := eni{acct: en.acct, region: en.region, n: uint32(r.intn(max(len(g.enis), 1)*4 + 16))}
		peer = appendPrivateIP(peer, &other)
		port := eastWestPorts[r.intn(len(eastWestPorts))]
		f.bytes = int64(r.logNormal(8<<10, 1.5, 60, 50<<20))
		if pat == flowEastWestOut {
			f.src, f.dst, f.sport, f.dport, f.tcpFlags, f.egress, f.trafficPath = self, peer, r.between(32768, 60999), port, 3, true, "1"
		} else {
			f.src, f.dst, f.sport, f.dport, f.tcpFlags = peer, self, r.between(32768, 60999), port, 19
		}
	case flowToAWS:
		if r.chance(0.7) {
			peer = append(peer, "52.216."...)
			f.dstSvc = "S3"
		} else {
			peer = append(peer, "3.218."...)
			f.dstSvc = "DYNAMODB"
		}
		peer = appendHostOctets(peer, r)
		f.src, f.dst, f.sport, f.dport, f.tcpFlags, f.egress, f.trafficPath = self, peer, r.between(32768, 60999), 443, 3, true, "7"
		f.bytes = int64(r.logNormal(32<<10, 1.5, 200, 20<<20))
	case flowToInternet:
		peer = append(peer, internetPrefixes[r.intn(len(internetPrefixes))]...)
		peer = appendHostOctets(peer, r)
		f.src, f.dst, f.sport, f.dport, f.tcpFlags, f.egress, f.trafficPath = self, peer, r.between(32768, 60999), 443, 3, true, "8"
		f.bytes = int64(r.logNormal(20<<10, 1.5, 100, 20<<20))
	case flowScan:
		peer = append(peer, scannerPrefixes[r.intn(len(scannerPrefixes))]...)
		peer = appendHostOctets(peer, r)
		f.src, f.dst, f.sport, f.dport, f.tcpFlags = peer, self, r.between(1024, 65535), scanPorts[r.intn(len(scanPorts))], 2
		f.bytes, f.packets, f.action = int64(40*r.between(1, 3)), 1, "REJECT"
	case flowDNS:
		peer = append(peer, "10."...)
		peer = strconv.AppendUint(peer, uint64((uint32(en.acct)*8+uint32(en.region))%256), 10)
		peer = append(peer, ".0.2"...)
		f.src, f.dst, f.sport, f.dport, f.proto, f.egress, f.trafficPath = self, peer, r.between(32768, 60999), 53, 17, true, "1"
		f.bytes = int64(r.between(60, 600))
	}
}

// appendFlowV2 appends a line of the default format (HeaderV2).
func (g *Generator) appendFlowV2(b []byte, f *flow, en *eni) []byte {
	b = append(b, "2 "...)
	b = append(b, g.accounts[en.acct]...)
	b = append(b, ' ')
	b = g.appendENIID(b, en.n)
	if f.nodata {
		b = append(b, " - - - - - - - "...)
		b = strconv.AppendInt(b, f.start, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, f.end, 10)
		return append(b, " - NODATA"...)
	}
	b = appendFlowCore(b, f)
	return append(b, " OK"...)
}

// appendFlowCore appends " srcaddr dstaddr srcport dstport protocol packets bytes start end action".
func appendFlowCore(b []byte, f *flow) []byte {
	b = append(b, ' ')
	b = append(b, f.src...)
	b = append(b, ' ')
	b = append(b, f.dst...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(f.sport), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(f.dport), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(f.proto), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, f.packets, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, f.bytes, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, f.start, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, f.end, 10)
	b = append(b, ' ')
	return append(b, f.action...)
}

func dash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return append(b, s...)
}

// appendFlowV5 appends a line of the custom format HeaderV5.
func (g *Generator) appendFlowV5(b []byte, f *flow, en *eni, fl *flowLog) []byte {
	b = append(b, "5 "...)
	b = append(b, g.accounts[en.acct]...)
	b = append(b, ' ')
	b = g.appendENIID(b, en.n)
	if f.nodata {
		b = append(b, " - - - - - - - "...)
		b = strconv.AppendInt(b, f.start, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, f.end, 10)
		b = append(b, " - NODATA"...)
	} else {
		b = appendFlowCore(b, f)
		b = append(b, " OK"...)
	}
	b = append(b, ' ')
	b = append(b, fl.vpc...)
	b = append(b, " subnet-0"...)
	b = appendHex(b, hash3(g.seed, saltVPC, uint64(en.acct)<<16|uint64(en.region)<<8|uint64(en.n%4)), 16)
	b = append(b, ' ')
	if en.instance {
		b = g.appendInstanceID(b, en.n)
	} else {
		b = append(b, '-')
	}
	if f.nodata {
		b = append(b, " - - - - "...)
	} else {
		b = append(b, ' ')
		if f.proto == 6 {
			b = strconv.AppendInt(b, int64(f.tcpFlags), 10)
		} else {
			b = append(b, '0')
		}
		b = append(b, " IPv4 "...)
		b = append(b, f.src...)
		b = append(b, ' ')
		b = append(b, f.dst...)
		b = append(b, ' ')
	}
	b = append(b, g.regions[en.region]...)
	b = append(b, ' ')
	b = append(b, g.azPrefix[en.region]...)
	b = append(b, "-az"...)
	b = strconv.AppendUint(b, uint64(en.n%3+1), 10)
	b = append(b, " - - "...)
	if f.nodata {
		return append(b, "- - - -"...)
	}
	b = dash(b, f.srcSvc)
	b = append(b, ' ')
	b = dash(b, f.dstSvc)
	if f.egress {
		b = append(b, " egress "...)
	} else {
		b = append(b, " ingress "...)
	}
	return append(b, f.trafficPath...)
}

// appendHostOctets completes a /16 prefix ("203.0.") with a random host.
func appendHostOctets(b []byte, r *rng) []byte {
	b = strconv.AppendInt(b, int64(r.intn(256)), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(r.between(1, 254)), 10)
}
