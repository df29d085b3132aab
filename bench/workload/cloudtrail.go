package workload

import (
	"strconv"
	"time"
)

// Error kinds of a generated call.
const (
	errNone = iota
	errDenied
	errThrottle
	errNotFound
)

var bucketKinds = [...]string{"data", "logs", "artifacts", "exports", "media", "backups"}
var tableKinds = [...]string{"items", "events", "sessions", "orders"}

var humanAgents = [...]string{
	"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off",
	"aws-cli/2.17.2 md/awscrt#0.20.11 ua/2.0 os/linux#6.5.0-41-generic md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off",
	"aws-cli/2.13.5 Python/3.11.4 Darwin/22.6.0 exe/x86_64 prompt/off command/s3.ls",
	"Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/macos#23.3.0 md/arch#arm64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
	"Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.41.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/macos lang/go#1.21.8 md/GOOS#darwin md/GOARCH#arm64 api/ec2#1.151.0",
}

var machineAgents = [...]string{
	"aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.0",
	"Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython exec-env/AWS_Lambda_python3.11 cfg/retry-mode#legacy Botocore/1.34.69",
	"aws-sdk-java/2.25.16 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy",
	"aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 lang/js md/nodejs#20.11.1 exec-env/AWS_ECS_FARGATE api/dynamodb#3.540.0",
	"aws-sdk-go/1.51.6 (go1.22.1; linux; amd64) exec-env/AWS_ECS_EC2",
}

const consoleAgent = "AWS Internal"
const browserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36"

// officeIPs are where people work from (documentation ranges).
var officeIPs = [...]string{"198.51.100.24", "198.51.100.77", "203.0.113.10", "203.0.113.45", "192.0.2.130", "192.0.2.200"}

// res holds the resource choices of one call, drawn once so that request,
// response, resources and TLS host agree.
type res struct {
	app, kind, num int
	inst           uint32
	bytesIn        int64
	bytesOut       int64
	tag            uint64
}

// profileOf maps a principal to its action mix.
func profileOf(p *principal) profile {
	switch p.typ {
	case pService:
		return profService
	case pIdC:
		return profIdC
	case pRole:
		switch p.style {
		case roleCI:
			return profCI
		case roleHuman:
			return profHuman
		}
		return profApp
	case pIAMUser:
		if p.style == styleMachine {
			return profApp
		}
	}
	return profHuman
}

// session is the credential context of one call.
type session struct {
	idx     uint64 // session ordinal
	created int64  // unix seconds
	console bool   // a console (browser) session of an IAM user
}

// renderCT appends the CloudTrail record of e and returns the account and
// region indices (globalRegion for us-east-1 of a global service) and whether
// the call failed.
func (g *Generator) renderCT(b []byte, e *pending) ([]byte, uint16, uint16, bool) {
	r := newRNG(e.seed)
	p := &g.ps[e.who]
	var st *incState
	kind := ""
	if e.inc > 0 {
		st = &g.incs[e.inc-1]
		kind = incSpecs[st.spec].kind
	}
	var ai uint8
	ek := errNone
	switch {
	case e.kind == evCreate:
		ai = mustAction("CreateUser")
	case e.kind == evCreateAK:
		ai = mustAction("CreateAccessKey")
	case kind == KindStolenKey || kind == KindNewPrincipal:
		ai = pickAction(profRecon, &r)
		if r.chance(0.12) {
			ek = errDenied
		}
	case kind == KindS3Exfil:
		ai = mustAction("GetObject")
	case kind == KindAccessDenied:
		ai = pickAction(profStorm, &r)
		if r.chance(0.95) {
			ek = errDenied
		}
	default:
		ai = pickAction(profileOf(p), &r)
		if r.chance(g.cfg.ErrorRate) {
			x := r.float()
			switch {
			case x < 0.5:
				ek = errDenied
			case x < 0.7:
				ek = errThrottle
			default:
				ek = errNotFound
			}
		}
	}
	a := &actions[ai]
	if ek == errNotFound && a.notFound == "" {
		ek = errDenied
	}

	acct := p.acct
	if p.typ == pService {
		acct = uint16(r.intn(len(g.accounts)))
	}
	regIdx := uint16(p.region)
	if r.chance(0.1) {
		regIdx = uint16(r.intn(len(g.regions)))
	}
	region := g.regions[regIdx]
	if a.global {
		regIdx, region = globalRegion, "us-east-1"
	}
	acctID := g.accounts[acct]

	// Resource choices.
	var rs res
	rs.app = r.intn(len(appWords))
	if p.typ == pRole && r.chance(0.7) {
		rs.app = int(p.n % uint32(len(appWords)))
	}
	rs.kind = r.intn(len(bucketKinds))
	rs.num = r.intn(100000)
	rs.inst = uint32(r.intn(g.cfg.Instances))
	rs.tag = r.u64()
	switch a.name {
	case "GetObject":
		if kind == KindS3Exfil {
			rs.bytesOut = int64(r.logNormal(80<<20, 0.6, 20<<20, 500<<20))
		} else {
			rs.bytesOut = int64(r.logNormal(64<<10, 1.8, 100, 2<<30))
		}
	case "PutObject":
		rs.bytesIn = int64(r.logNormal(64<<10, 1.8, 100, 1<<30))
	case "ListObjects", "ListBuckets":
		rs.bytesOut = int64(r.logNormal(4<<10, 1, 300, 1<<20))
	case "GetBucketPolicy", "GetBucketAcl", "DeleteObject":
		rs.bytesOut = int64(r.between(200, 2000))
	}
	if ek != errNone {
		rs.bytesIn, rs.bytesOut = 0, int64(r.between(200, 400)) // the error document
	}

	sess := g.session(e.who, p, &r)
	if st != nil {
		sess.console = false // a stolen or new long-term key, not a console login
	}

	b = append(b, `{"eventVersion":"`...)
	if a.data {
		b = append(b, "1.10"...)
	} else {
		b = append(b, "1.09"...)
	}
	b = append(b, `","userIdentity":`...)
	var arnStart int
	b, arnStart = g.appendIdentity(b, e.who, p, acctID, &sess)
	arnEnd := arnStart
	if arnStart >= 0 {
		// arnStart is the offset of the identity ARN's value; find its end.
		for arnEnd < len(b) && b[arnEnd] != '"' {
			arnEnd++
		}
	}
	b = append(b, `,"eventTime":"`...)
	b = append(b, g.minStamp...)
	b = append(b, byte('0'+e.sec/10), byte('0'+e.sec%10), 'Z', '"')
	b = append(b, `,"eventSource":"`...)
	b = append(b, a.source...)
	b = append(b, `","eventName":"`...)
	b = append(b, a.name...)
	b = append(b, `","awsRegion":"`...)
	b = append(b, region...)
	b = append(b, `","sourceIPAddress":"`...)
	b = g.appendSourceIP(b, e.who, p, st, acct, regIdx, &sess, &r)
	b = append(b, `","userAgent":"`...)
	b = g.appendAgent(b, e.who, p, st, &sess)
	b = append(b, '"')
	if ek != errNone {
		b = appendError(b, a, ek, arnStart, arnEnd, acctID)
	}
	b = g.appendRequest(b, a, p, &rs, acctID, region, e)
	b = append(b, `,"responseElements":`...)
	if ek != errNone {
		b = append(b, "null"...)
	} else {
		b = g.appendResponse(b, a, &rs, acctID, region, e)
	}
	b = g.appendAdditional(b, a, p, &rs, ek)
	b = append(b, `,"requestID":"`...)
	if a.iam == "s3" {
		for i := 0; i < 16; i++ {
			b = append(b, "0123456789ABCDEF"[(rs.tag>>(4*i))&15])
		}
	} else {
		h := mix(e.seed ^ 0x5eed)
		b = appendUUID(b, h, mix(h))
	}
	b = append(b, `","eventID":"`...)
	h := hash2(g.seed^saltEvent, e.seed)
	b = appendUUID(b, h, mix(h^saltEvent))
	b = append(b, `","readOnly":`...)
	b = strconv.AppendBool(b, a.readOnly)
	b = g.appendResources(b, a, p, &rs, acctID, region)
	b = append(b, `,"eventType":"AwsApiCall","managementEvent":`...)
	b = strconv.AppendBool(b, !a.data)
	b = append(b, `,"recipientAccountId":"`...)
	b = append(b, acctID...)
	if p.typ == pService && a.name == "AssumeRole" {
		b = append(b, `","sharedEventID":"`...)
		b = appendUUID(b, mix(h^1), mix(h^2))
	}
	if a.data {
		b = append(b, `","eventCategory":"Data"`...)
	} else {
		b = append(b, `","eventCategory":"Management"`...)
	}
	if p.typ != pService {
		b = append(b, `,"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"`...)
		b = appendHost(b, a, &rs, acctID, region)
		b = append(b, `"}`...)
	}
	b = append(b, '}')
	return b, acct, regIdx, ek != errNone
}

// session derives the credential session of a call from the principal and the
// current minute: roles get hourly sessions, people eight-hour ones.
func (g *Generator) session(who uint32, p *principal, r *rng) session {
	var s session
	length := int64(60)
	if p.human {
		length = 480
	}
	h := hash3(g.seed, saltSession, uint64(who))
	absMin := g.minTime.Unix() / 60
	phase := int64(h % uint64(length))
	s.idx = uint64((absMin + phase) / length)
	startMin := int64(s.idx)*length - phase
	s.created = startMin*60 + int64(h>>32%60)
	if s.created > g.minTime.Unix() {
		s.created = startMin * 60
	}
	s.console = p.typ == pIAMUser && p.style == stylePerson && r.chance(0.35)
	return s
}

// appendRFC3339 appends unix seconds as 2006-01-02T15:04:05Z without going
// through time.Format (this is on the hot path of every session identity).
func appendRFC3339(b []byte, unix int64) []byte {
	y, mo, d := time.Unix(unix, 0).UTC().Date()
	sec := unix % 86400
	if sec < 0 {
		sec += 86400
	}
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
	h, m, s := sec/3600, sec/60%60, sec%60
	return append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10), 'Z')
}

// appendSessionName appends the session name of a role, SSO or federated session.
func (g *Generator) appendSessionName(b []byte, who uint32, p *principal, s *session) []byte {
	h := hash3(g.seed, uint64(who), s.idx)
	switch p.typ {
	case pSSO:
		b = appendPerson(b, (p.n*7+uint32(h%12))%4096)
		return append(b, "@example.com"...)
	case pFederated:
		return appendPerson(b, uint32(h%4096))
	}
	switch p.style {
	case roleTask:
		return appendHex(appendHex(b, h, 16), mix(h), 16)
	case roleLambda:
		b = append(b, appWords[p.n%uint32(len(appWords))]...)
		b = append(b, '-')
		b = append(b, componentWords[h%uint64(len(componentWords))]...)
		return append(b, "-fn"...)
	case roleEC2:
		return g.appendInstanceID(b, uint32(hash2(uint64(who), s.idx%4)%uint64(g.cfg.Instances)))
	case roleCI:
		b = append(b, "GitHubActions-"...)
		return strconv.AppendUint(b, h%10_000_000, 10)
	}
	return appendPerson(b, uint32(h%4096))
}

// appendIdentity appends userIdentity and returns the offset at which the
// identity's arn value starts in b (-1 when it has none).
func (g *Generator) appendIdentity(b []byte, who uint32, p *principal, acctID string, s *session) ([]byte, int) {
	arn := -1
	switch p.typ {
	case pService:
		b = append(b, `{"type":"AWSService","invokedBy":"`...)
		b = g.appendName(b, p)
		return append(b, `"}`...), -1
	case pIdC:
		b = append(b, `{"type":"IdentityCenterUser","accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","onBehalfOf":{"userId":"`...)
		h := hash3(g.seed, saltIdC, uint64(who))
		b = appendUUID(b, h, mix(h))
		b = append(b, `","identityStoreArn":"arn:aws:identitystore::`...)
		b = append(b, g.accounts[0]...)
		b = append(b, `:identitystore/d-90`...)
		b = appendHex(b, hash2(g.seed, saltIdC), 8)
		b = append(b, `"},"credentialId":"`...)
		b = appendIDN(b, "", mix(h^s.idx), 44)
		return append(b, `"}`...), -1
	case pRoot:
		b = append(b, `{"type":"Root","principalId":"`...)
		b = append(b, acctID...)
		b = append(b, `","arn":"`...)
		arn = len(b)
		b = append(b, "arn:aws:iam::"...)
		b = append(b, acctID...)
		b = append(b, `:root","accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","accessKeyId":"`...)
		b = appendKeyID(b, "ASIA", hash3(g.seed, saltASIA, uint64(who)<<32^s.idx))
		b = append(b, `","sessionContext":{"attributes":{"creationDate":"`...)
		b = appendRFC3339(b, s.created)
		return append(b, `","mfaAuthenticated":"true"}}}`...), arn
	case pIAMUser:
		b = append(b, `{"type":"IAMUser","principalId":"`...)
		b = appendIDN(b, "AIDA", hash3(g.seed, saltAIDA, uint64(who)), 17)
		b = append(b, `","arn":"`...)
		arn = len(b)
		b = g.appendKey(b, p)
		b = append(b, `","accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","accessKeyId":"`...)
		if s.console {
			b = appendKeyID(b, "ASIA", hash3(g.seed, saltASIA, uint64(who)<<32^s.idx))
		} else {
			b = appendKeyID(b, "AKIA", hash3(g.seed, saltAKIA, uint64(who)))
		}
		b = append(b, `","userName":"`...)
		b = g.appendName(b, p)
		b = append(b, '"')
		if s.console {
			b = append(b, `,"sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":"`...)
			b = appendRFC3339(b, s.created)
			b = append(b, `","mfaAuthenticated":"true"}}`...)
		}
		return append(b, '}'), arn
	case pFederated:
		b = append(b, `{"type":"FederatedUser","principalId":"`...)
		b = append(b, acctID...)
		b = append(b, ':')
		b = g.appendSessionName(b, who, p, s)
		b = append(b, `","arn":"`...)
		arn = len(b)
		b = append(b, "arn:aws:sts::"...)
		b = append(b, acctID...)
		b = append(b, ":federated-user/"...)
		b = g.appendSessionName(b, who, p, s)
		b = append(b, `","accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","accessKeyId":"`...)
		b = appendKeyID(b, "ASIA", hash3(g.seed, saltASIA, uint64(who)<<32^s.idx))
		b = append(b, `","sessionContext":{"sessionIssuer":{"type":"IAMUser","principalId":"`...)
		b = appendIDN(b, "AIDA", hash3(g.seed, saltAIDA, uint64(who)), 17)
		b = append(b, `","arn":"`...)
		b = g.appendKey(b, p)
		b = append(b, `","accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","userName":"`...)
		b = g.appendName(b, p)
		b = append(b, `"},"webIdFederationData":{},"attributes":{"creationDate":"`...)
		b = appendRFC3339(b, s.created)
		return append(b, `","mfaAuthenticated":"false"}}}`...), arn
	}
	// pRole, pSSO: AssumedRole sessions.
	roleID := hash3(g.seed, saltAROA, uint64(who))
	b = append(b, `{"type":"AssumedRole","principalId":"`...)
	b = appendIDN(b, "AROA", roleID, 17)
	b = append(b, ':')
	b = g.appendSessionName(b, who, p, s)
	b = append(b, `","arn":"`...)
	arn = len(b)
	b = append(b, "arn:aws:sts::"...)
	b = append(b, acctID...)
	b = append(b, ":assumed-role/"...)
	b = g.appendName(b, p)
	b = append(b, '/')
	b = g.appendSessionName(b, who, p, s)
	b = append(b, `","accountId":"`...)
	b = append(b, acctID...)
	b = append(b, `","accessKeyId":"`...)
	b = appendKeyID(b, "ASIA", hash3(g.seed, saltASIA, uint64(who)<<32^s.idx))
	b = append(b, `","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"`...)
	b = appendIDN(b, "AROA", roleID, 17)
	b = append(b, `","arn":"`...)
	b = g.appendKey(b, p)
	b = append(b, `","accountId":"`...)
	b = append(b, acctID...)
	b = append(b, `","userName":"`...)
	b = g.appendName(b, p)
	b = append(b, `"},"webIdFederationData":{`...)
	if p.typ == pRole && p.style == roleCI {
		b = append(b, `"federatedProvider":"arn:aws:iam::`...)
		b = append(b, acctID...)
		b = append(b, `:oidc-provider/token.actions.githubusercontent.com","attributes":{}`...)
	}
	b = append(b, `},"attributes":{"creationDate":"`...)
	b = appendRFC3339(b, s.created)
	if p.human {
		b = append(b, `","mfaAuthenticated":"true"}`...)
	} else {
		b = append(b, `","mfaAuthenticated":"false"}`...)
	}
	if p.typ == pRole && p.style == roleHuman {
		b = append(b, `,"sourceIdentity":"`...)
		b = g.appendSessionName(b, who, p, s)
		b = append(b, '"')
	}
	return append(b, "}}"...), arn
}

func (g *Generator) appendSourceIP(b []byte, who uint32, p *principal, st *incState, acct, regIdx uint16, s *session, r *rng) []byte {
	switch {
	case st != nil && st.ip != "":
		return append(b, st.ip...)
	case p.typ == pService:
		return g.appendName(b, p)
	case p.human:
		h := hash2(g.seed, uint64(who))
		if r.chance(0.1) { // working from home
			b = append(b, "100."...)
			b = strconv.AppendUint(b, 64+h>>8%64, 10)
			b = append(b, '.')
			b = strconv.AppendUint(b, h>>16%256, 10)
			b = append(b, '.')
			return strconv.AppendUint(b, h>>24%254+1, 10)
		}
		return append(b, officeIPs[h%uint64(len(officeIPs))]...)
	}
	if regIdx == globalRegion {
		regIdx = uint16(p.region)
	}
	h := hash3(g.seed, uint64(acct), uint64(regIdx))
	if r.chance(0.3) { // through a VPC endpoint: the caller's private address
		b = append(b, "10."...)
		b = strconv.AppendUint(b, uint64((uint32(acct)*8+uint32(regIdx))%256), 10)
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(r.intn(256)), 10)
		b = append(b, '.')
		return strconv.AppendUint(b, uint64(r.between(4, 253)), 10)
	}
	// the NAT gateway of the account's VPC in the region (two per VPC)
	nat := [...]string{"3.", "18.", "34.", "52.", "54."}
	b = append(b, nat[h%5]...)
	b = strconv.AppendUint(b, h>>8%256, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, h>>16%256, 10)
	b = append(b, '.')
	return strconv.AppendUint(b, (h>>24+uint64(r.intn(2)))%254+1, 10)
}

func (g *Generator) appendAgent(b []byte, who uint32, p *principal, st *incState, s *session) []byte {
	h := hash2(g.seed^0xa6e47, uint64(who))
	switch {
	case st != nil && st.ua != "":
		return append(b, st.ua...)
	case p.typ == pService:
		return g.appendName(b, p)
	case p.typ == pIdC:
		return append(b, browserAgent...)
	case s.console || p.typ == pSSO && s.idx%3 == 0 || p.typ == pRoot:
		return append(b, consoleAgent...)
	case p.human:
		return append(b, humanAgents[h%uint64(len(humanAgents))]...)
	}
	return append(b, machineAgents[h%uint64(len(machineAgents))]...)
}

func appendError(b []byte, a *action, ek int, arnStart, arnEnd int, acctID string) []byte {
	b = append(b, `,"errorCode":"`...)
	switch ek {
	case errDenied:
		b = append(b, a.denied...)
		b = append(b, `","errorMessage":"`...)
		if a.iam == "s3" || arnStart < 0 {
			return append(b, `Access Denied"`...)
		}
		if a.iam == "ec2" {
			b = append(b, "You are not authorized to perform this operation. User: "...)
		} else {
			b = append(b, "User: "...)
		}
		b = append(b, b[arnStart:arnEnd]...)
		b = append(b, " is not authorized to perform: "...)
		b = append(b, a.iam...)
		b = append(b, ':')
		b = append(b, a.name...)
		b = append(b, " because no identity-based policy allows the "...)
		b = append(b, a.iam...)
		b = append(b, ':')
		b = append(b, a.name...)
		return append(b, ` action"`...)
	case errThrottle:
		b = append(b, a.throttle...)
		return append(b, `","errorMessage":"Rate exceeded"`...)
	}
	b = append(b, a.notFound...)
	if a.notFound == "NoSuchKey" {
		return append(b, `","errorMessage":"The specified key does not exist."`...)
	}
	return append(b, `","errorMessage":"The requested resource was not found"`...)
}

func appendBucket(b []byte, rs *res, acctID string) []byte {
	b = append(b, appWords[rs.app]...)
	b = append(b, '-')
	b = append(b, bucketKinds[rs.kind]...)
	b = append(b, '-')
	return append(b, acctID...)
}

func (g *Generator) appendObjectKey(b []byte, rs *res) []byte {
	b = append(b, bucketKinds[rs.kind]...)
	b = append(b, '/')
	d := g.minStamp
	b = append(b, d[0:4]...)
	b = append(b, '/')
	b = append(b, d[5:7]...)
	b = append(b, '/')
	b = append(b, d[8:10]...)
	b = append(b, "/part-"...)
	b = strconv.AppendInt(b, int64(rs.num), 10)
	return append(b, ".snappy.parquet"...)
}

func appendHost(b []byte, a *action, rs *res, acctID, region string) []byte {
	switch {
	case a.global:
		return append(b, "iam.amazonaws.com"...)
	case a.iam == "s3" && a.t != tS3ListBuckets:
		b = appendBucket(b, rs, acctID)
		b = append(b, ".s3."...)
	default:
		b = append(b, a.host...)
		b = append(b, '.')
	}
	b = append(b, region...)
	return append(b, ".amazonaws.com"...)
}

func appendFuncName(b []byte, rs *res) []byte {
	b = append(b, appWords[rs.app]...)
	b = append(b, '-')
	return append(b, componentWords[rs.num%len(componentWords)]...)
}

func appendTableName(b []byte, rs *res) []byte {
	b = append(b, appWords[rs.app]...)
	b = append(b, '-')
	return append(b, tableKinds[rs.num%len(tableKinds)]...)
}

func (g *Generator) appendKMSKeyARN(b []byte, rs *res, acctID, region string) []byte {
	b = append(b, "arn:aws:kms:"...)
	b = append(b, region...)
	b = append(b, ':')
	b = append(b, acctID...)
	b = append(b, ":key/"...)
	h := hash3(g.seed, saltKMS, uint64(rs.app%8))
	return appendUUID(b, h, mix(h))
}

func (g *Generator) appendRoleName(b []byte, rs *res) []byte {
	b = append(b, appWords[rs.app]...)
	b = append(b, '-')
	b = append(b, componentWords[rs.num%len(componentWords)]...)
	return append(b, "-task-role"...)
}

// appendRequest appends ,"requestParameters":{...}.
func (g *Generator) appendRequest(b []byte, a *action, p *principal, rs *res, acctID, region string, e *pending) []byte {
	b = append(b, `,"requestParameters":`...)
	switch a.t {
	case tNone:
		return append(b, "null"...)
	case tEC2Describe:
		if a.name == "DescribeInstances" {
			b = append(b, `{"instancesSet":{"items":[{"instanceId":"`...)
			b = g.appendInstanceID(b, rs.inst)
			return append(b, `"}]},"filterSet":{},"includeAllResources":false}`...)
		}
		b = append(b, `{"filterSet":{"items":[{"name":"vpc-id","valueSet":{"items":[{"value":"`...)
		b = append(b, g.flowLogs[int(p.acct)*len(g.regions)+int(p.region)].vpc...)
		return append(b, `"}]}}]},"maxResults":1000}`...)
	case tEC2Instance:
		b = append(b, `{"instancesSet":{"items":[{"instanceId":"`...)
		b = g.appendInstanceID(b, rs.inst)
		return append(b, `"}]},"force":false}`...)
	case tEC2Run:
		b = append(b, `{"instancesSet":{"items":[{"imageId":"ami-0`...)
		b = appendHex(b, rs.tag, 16)
		b = append(b, `","minCount":1,"maxCount":1}]},"instanceType":"t3.medium","blockDeviceMapping":{},"monitoring":{"enabled":false},"disableApiTermination":false,"disableApiStop":false,"clientToken":"`...)
		b = appendUUID(b, rs.tag, mix(rs.tag))
		return append(b, `"}`...)
	case tEC2Tags:
		b = append(b, `{"resourcesSet":{"items":[{"resourceId":"`...)
		b = g.appendInstanceID(b, rs.inst)
		b = append(b, `"}]},"tagSet":{"items":[{"key":"Owner","value":"`...)
		b = append(b, appWords[rs.app]...)
		return append(b, `"}]}}`...)
	case tEC2SG:
		b = append(b, `{"groupId":"sg-0`...)
		b = appendHex(b, rs.tag, 16)
		return append(b, `","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":443,"toPort":443,"groups":{},"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]},"ipv6Ranges":{},"prefixListIds":{}}]}}`...)
	case tEC2ENI:
		b = append(b, `{"subnetId":"subnet-0`...)
		b = appendHex(b, rs.tag>>8, 16)
		b = append(b, `","description":"AWS Lambda VPC ENI-`...)
		b = appendFuncName(b, rs)
		b = append(b, `-`...)
		b = appendUUID(b, rs.tag, mix(rs.tag))
		b = append(b, `","groupSet":{"items":[{"groupId":"sg-0`...)
		b = appendHex(b, rs.tag, 16)
		return append(b, `"}]},"privateIpAddressesSet":{}}`...)
	case tS3ListBuckets:
		return append(b, `{"Host":"s3.amazonaws.com"}`...)
	case tS3Bucket:
		b = append(b, `{"bucketName":"`...)
		b = appendBucket(b, rs, acctID)
		b = append(b, `","Host":"`...)
		b = appendHost(b, a, rs, acctID, region)
		if a.name == "GetBucketPolicy" {
			return append(b, `","policy":""}`...)
		}
		return append(b, `","acl":""}`...)
	case tS3Object:
		b = append(b, `{"bucketName":"`...)
		b = appendBucket(b, rs, acctID)
		b = append(b, `","Host":"`...)
		b = appendHost(b, a, rs, acctID, region)
		b = append(b, `","key":"`...)
		b = g.appendObjectKey(b, rs)
		if a.name == "PutObject" {
			return append(b, `","x-amz-server-side-encryption":"aws:kms"}`...)
		}
		return append(b, `"}`...)
	case tS3List:
		b = append(b, `{"bucketName":"`...)
		b = appendBucket(b, rs, acctID)
		b = append(b, `","Host":"`...)
		b = appendHost(b, a, rs, acctID, region)
		b = append(b, `","list-type":"2","prefix":"`...)
		b = append(b, bucketKinds[rs.kind]...)
		return append(b, `/","max-keys":"1000","encoding-type":"url"}`...)
	case tIAMList:
		return append(b, `{"maxItems":100}`...)
	case tIAMUser:
		b = append(b, `{"userName":"`...)
		b = appendPerson(b, uint32(rs.num))
		return append(b, `"}`...)
	case tIAMRole:
		b = append(b, `{"roleName":"`...)
		b = g.appendRoleName(b, rs)
		return append(b, `"}`...)
	case tIAMCreateUser, tIAMCreateKey:
		b = append(b, `{"userName":"`...)
		b = g.appendNewUserName(b, e)
		if a.t == tIAMCreateUser {
			return append(b, `","tags":[{"key":"team","value":"platform"}]}`...)
		}
		return append(b, `"}`...)
	case tSTSAssumeRole:
		b = append(b, `{"roleArn":"arn:aws:iam::`...)
		b = append(b, acctID...)
		b = append(b, ":role/"...)
		b = g.appendRoleName(b, rs)
		b = append(b, `","roleSessionName":"`...)
		b = appendHex(b, rs.tag, 16)
		return append(b, `","durationSeconds":3600}`...)
	case tKMSDecrypt:
		b = append(b, `{"encryptionContext":{"aws:s3:arn":"arn:aws:s3:::`...)
		b = appendBucket(b, rs, acctID)
		return append(b, `"},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}`...)
	case tKMSDataKey:
		b = append(b, `{"keyId":"`...)
		b = g.appendKMSKeyARN(b, rs, acctID, region)
		b = append(b, `","encryptionContext":{"aws:s3:arn":"arn:aws:s3:::`...)
		b = appendBucket(b, rs, acctID)
		return append(b, `"},"keySpec":"AES_256"}`...)
	case tLambdaList:
		return append(b, `{"functionVersion":"ALL","maxItems":50}`...)
	case tLambdaFunc:
		b = append(b, `{"functionName":"`...)
		b = appendFuncName(b, rs)
		if a.name == "UpdateFunctionCode20150331v2" {
			b = append(b, `","s3Bucket":"`...)
			b = appendBucket(b, rs, acctID)
			b = append(b, `","s3Key":"build-`...)
			b = strconv.AppendInt(b, int64(rs.num), 10)
			return append(b, `.zip","publish":true}`...)
		}
		return append(b, `"}`...)
	case tLambdaInvoke:
		b = append(b, `{"functionName":"arn:aws:lambda:`...)
		b = append(b, region...)
		b = append(b, ':')
		b = append(b, acctID...)
		b = append(b, ":function:"...)
		b = appendFuncName(b, rs)
		return append(b, `","invocationType":"Event","logType":"None"}`...)
	case tDDBItem:
		b = append(b, `{"tableName":"`...)
		b = appendTableName(b, rs)
		return append(b, `","key":{"pk":"HIDDEN_DUE_TO_SECURITY_REASONS","sk":"HIDDEN_DUE_TO_SECURITY_REASONS"},"returnConsumedCapacity":"NONE"}`...)
	case tDDBQuery:
		b = append(b, `{"tableName":"`...)
		b = appendTableName(b, rs)
		return append(b, `","keyConditionExpression":"pk = :pk AND begins_with(sk, :prefix)","limit":100,"scanIndexForward":false}`...)
	case tDDBTable:
		b = append(b, `{"tableName":"`...)
		b = appendTableName(b, rs)
		return append(b, `"}`...)
	case tSecret:
		b = append(b, `{"secretId":"arn:aws:secretsmanager:`...)
		b = append(b, region...)
		b = append(b, ':')
		b = append(b, acctID...)
		b = append(b, ":secret:prod/"...)
		b = append(b, appWords[rs.app]...)
		b = append(b, "/db-credentials-"...)
		b = appendIDN(b, "", rs.tag, 6)
		return append(b, `"}`...)
	case tSecretList:
		return append(b, `{"maxResults":100,"includePlannedDeletion":false}`...)
	case tSSMParam:
		b = append(b, `{"name":"/`...)
		b = append(b, appWords[rs.app]...)
		return append(b, `/prod/config","withDecryption":true}`...)
	case tLogsGroups:
		return append(b, `{"logGroupNamePrefix":"/aws/lambda/","limit":50}`...)
	case tLogsStream:
		b = append(b, `{"logGroupName":"/ecs/`...)
		b = append(b, appWords[rs.app]...)
		b = append(b, `","logStreamName":"ecs/`...)
		b = append(b, appWords[rs.app]...)
		b = append(b, '/')
		b = appendHex(b, rs.tag, 16)
		return append(b, `"}`...)
	case tCFNStack:
		b = append(b, `{"stackName":"`...)
		b = append(b, appWords[rs.app]...)
		return append(b, `-prod"}`...)
	case tCWAlarms:
		return append(b, `{"maxRecords":100,"alarmTypes":["CompositeAlarm","MetricAlarm"]}`...)
	case tCWMetricData:
		b = append(b, `{"metricDataQueries":[{"id":"m1","metricStat":{"metric":{"namespace":"AWS/EC2","metricName":"CPUUtilization","dimensions":[{"name":"InstanceId","value":"`...)
		b = g.appendInstanceID(b, rs.inst)
		b = append(b, `"}]},"period":300,"stat":"Average"},"returnData":true}],"startTime":"`...)
		b = appendRFC3339(b, g.minTime.Unix()-3600)
		b = append(b, `","endTime":"`...)
		b = appendRFC3339(b, g.minTime.Unix())
		return append(b, `"}`...)
	case tRDS:
		b = append(b, `{"dBInstanceIdentifier":"`...)
		b = append(b, appWords[rs.app]...)
		return append(b, `-db"}`...)
	case tSSOList:
		b = append(b, `{"maxResults":100`...)
		if a.name == "ListAccountRoles" {
			b = append(b, `,"accountId":"`...)
			b = append(b, acctID...)
			b = append(b, '"')
		}
		return append(b, '}')
	case tSSOCreds:
		b = append(b, `{"accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","roleName":"`...)
		b = append(b, permissionSets[rs.num%len(permissionSets)]...)
		return append(b, `"}`...)
	case tQChat:
		b = append(b, `{"applicationId":"`...)
		h := hash2(g.seed, uint64(rs.app))
		b = appendUUID(b, h, mix(h))
		b = append(b, `","userMessage":"HIDDEN_DUE_TO_SECURITY_REASONS","clientToken":"`...)
		b = appendUUID(b, rs.tag, mix(rs.tag^9))
		return append(b, `"}`...)
	}
	return append(b, "null"...)
}

// appendNewUserName appends the user name created before a new-principal incident.
func (g *Generator) appendNewUserName(b []byte, e *pending) []byte {
	if e.inc == 0 {
		return appendPerson(b, e.who)
	}
	st := &g.incs[e.inc-1]
	return g.appendName(b, &g.ps[st.who])
}

// appendResponse appends the responseElements value of a successful call.
func (g *Generator) appendResponse(b []byte, a *action, rs *res, acctID, region string, e *pending) []byte {
	switch a.t {
	case tEC2Instance:
		b = append(b, `{"requestId":"`...)
		b = appendUUID(b, rs.tag, mix(rs.tag^3))
		b = append(b, `","instancesSet":{"items":[{"instanceId":"`...)
		b = g.appendInstanceID(b, rs.inst)
		if a.name == "StartInstances" {
			return append(b, `","currentState":{"code":0,"name":"pending"},"previousState":{"code":80,"name":"stopped"}}]}}`...)
		}
		return append(b, `","currentState":{"code":64,"name":"stopping"},"previousState":{"code":16,"name":"running"}}]}}`...)
	case tEC2Run:
		b = append(b, `{"requestId":"`...)
		b = appendUUID(b, rs.tag, mix(rs.tag^3))
		b = append(b, `","reservationId":"r-0`...)
		b = appendHex(b, mix(rs.tag), 16)
		b = append(b, `","ownerId":"`...)
		b = append(b, acctID...)
		b = append(b, `","groupSet":{},"instancesSet":{"items":[{"instanceId":"`...)
		b = g.appendInstanceID(b, rs.inst)
		b = append(b, `","imageId":"ami-0`...)
		b = appendHex(b, rs.tag, 16)
		return append(b, `","instanceState":{"code":0,"name":"pending"},"instanceType":"t3.medium","monitoring":{"state":"disabled"}}]}}`...)
	case tEC2Tags, tEC2SG:
		b = append(b, `{"requestId":"`...)
		b = appendUUID(b, rs.tag, mix(rs.tag^3))
		return append(b, `","_return":true}`...)
	case tEC2ENI:
		b = append(b, `{"requestId":"`...)
		b = appendUUID(b, rs.tag, mix(rs.tag^3))
		b = append(b, `","networkInterface":{"networkInterfaceId":"eni-0`...)
		b = appendHex(b, mix(rs.tag^4), 16)
		return append(b, `","status":"pending","interfaceType":"lambda"}}`...)
	case tS3Object:
		if a.name == "PutObject" {
			b = append(b, `{"x-amz-server-side-encryption":"aws:kms","x-amz-server-side-encryption-aws-kms-key-id":"`...)
			b = g.appendKMSKeyARN(b, rs, acctID, region)
			b = append(b, `","x-amz-version-id":"`...)
			b = appendIDN(b, "", mix(rs.tag^8), 32)
			return append(b, `"}`...)
		}
	case tIAMCreateUser:
		b = append(b, `{"user":{"path":"/","userName":"`...)
		b = g.appendNewUserName(b, e)
		b = append(b, `","userId":"`...)
		b = appendIDN(b, "AIDA", rs.tag, 17)
		b = append(b, `","arn":"arn:aws:iam::`...)
		b = append(b, acctID...)
		b = append(b, ":user/"...)
		b = g.appendNewUserName(b, e)
		b = append(b, `","createDate":"`...)
		b = appendConsoleDate(b, g.minTime)
		return append(b, `"}}`...)
	case tIAMCreateKey:
		b = append(b, `{"accessKey":{"userName":"`...)
		b = g.appendNewUserName(b, e)
		b = append(b, `","accessKeyId":"`...)
		if e.inc > 0 {
			b = appendKeyID(b, "AKIA", hash3(g.seed, saltAKIA, uint64(g.incs[e.inc-1].who)))
		} else {
			b = appendKeyID(b, "AKIA", rs.tag)
		}
		b = append(b, `","status":"Active","createDate":"`...)
		b = appendConsoleDate(b, g.minTime)
		return append(b, `"}}`...)
	case tSTSAssumeRole:
		b = append(b, `{"credentials":{"accessKeyId":"`...)
		b = appendKeyID(b, "ASIA", rs.tag)
		b = append(b, `","sessionToken":"IQoJb3JpZ2luX2VjE`...)
		b = appendKeyID(b, "", mix(rs.tag))
		b = appendKeyID(b, "", mix(rs.tag^1))
		b = append(b, `","expiration":"`...)
		b = appendConsoleDate(b, g.minTime.Add(time.Hour))
		b = append(b, `"},"assumedRoleUser":{"assumedRoleId":"`...)
		b = appendIDN(b, "AROA", hash2(rs.tag, 9), 17)
		b = append(b, ':')
		b = appendHex(b, rs.tag, 16)
		b = append(b, `","arn":"arn:aws:sts::`...)
		b = append(b, acctID...)
		b = append(b, ":assumed-role/"...)
		b = g.appendRoleName(b, rs)
		b = append(b, '/')
		b = appendHex(b, rs.tag, 16)
		return append(b, `"}}`...)
	case tKMSDataKey:
		b = append(b, `{"keyId":"`...)
		b = g.appendKMSKeyARN(b, rs, acctID, region)
		return append(b, `"}`...)
	case tLambdaFunc:
		if a.name == "UpdateFunctionCode20150331v2" {
			b = append(b, `{"functionName":"`...)
			b = appendFuncName(b, rs)
			b = append(b, `","runtime":"python3.12","codeSize":`...)
			b = strconv.AppendInt(b, int64(rs.num)*37+4096, 10)
			return append(b, `,"state":"Active","lastUpdateStatus":"InProgress"}`...)
		}
	case tQChat:
		b = append(b, `{"conversationId":"`...)
		b = appendUUID(b, rs.tag, mix(rs.tag))
		b = append(b, `","systemMessageId":"`...)
		b = appendUUID(b, mix(rs.tag^5), mix(rs.tag^6))
		return append(b, `"}`...)
	}
	return append(b, "null"...)
}

// appendConsoleDate appends the "Mar 3, 2025, 10:15:42 AM" form IAM and STS use in responses.
func appendConsoleDate(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "Jan 2, 2006, 3:04:05 PM")
}

// appendAdditional appends ,"additionalEventData":{...} where the call has any.
func (g *Generator) appendAdditional(b []byte, a *action, p *principal, rs *res, ek int) []byte {
	s3 := a.iam == "s3"
	idc := p.typ == pIdC
	if !s3 && !idc && a.t != tKMSDecrypt {
		return b
	}
	b = append(b, `,"additionalEventData":{`...)
	sep := false
	if s3 {
		b = append(b, `"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":`...)
		b = strconv.AppendInt(b, rs.bytesIn, 10)
		b = append(b, `,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"`...)
		b = appendKeyID(b, "", rs.tag)
		b = appendKeyID(b, "", mix(rs.tag))
		b = appendKeyID(b, "", mix(rs.tag^7))
		b = append(b, `=","bytesTransferredOut":`...)
		b = strconv.AppendInt(b, rs.bytesOut, 10)
		sep = true
	}
	if a.t == tKMSDecrypt {
		b = append(b, `"keyMaterialId":"`...)
		h := hash3(g.seed, saltKMS, uint64(rs.app%8))
		b = appendHex(b, h, 16)
		b = appendHex(b, mix(h), 16)
		b = append(b, '"')
		sep = true
	}
	if idc {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"UserName":"`...)
		b = g.appendName(b, p)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendResources appends ,"resources":[...] where CloudTrail records them.
func (g *Generator) appendResources(b []byte, a *action, p *principal, rs *res, acctID, region string) []byte {
	switch a.t {
	case tS3Object:
		b = append(b, `,"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::`...)
		b = appendBucket(b, rs, acctID)
		b = append(b, '/')
		b = g.appendObjectKey(b, rs)
		b = append(b, `"},{"accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::`...)
		b = appendBucket(b, rs, acctID)
		return append(b, `"}]`...)
	case tS3Bucket, tS3List:
		b = append(b, `,"resources":[{"accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::`...)
		b = appendBucket(b, rs, acctID)
		return append(b, `"}]`...)
	case tKMSDecrypt, tKMSDataKey:
		b = append(b, `,"resources":[{"accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","type":"AWS::KMS::Key","ARN":"`...)
		b = g.appendKMSKeyARN(b, rs, acctID, region)
		return append(b, `"}]`...)
	case tSTSAssumeRole:
		b = append(b, `,"resources":[{"accountId":"`...)
		b = append(b, acctID...)
		b = append(b, `","type":"AWS::IAM::Role","ARN":"arn:aws:iam::`...)
		b = append(b, acctID...)
		b = append(b, ":role/"...)
		b = g.appendRoleName(b, rs)
		return append(b, `"}]`...)
	case tDDBItem, tDDBQuery:
		b = appendRegionalResource(b, "AWS::DynamoDB::Table", "dynamodb", region, acctID, ":table/")
		b = appendTableName(b, rs)
		return append(b, `"}]`...)
	case tLambdaInvoke:
		b = appendRegionalResource(b, "AWS::Lambda::Function", "lambda", region, acctID, ":function:")
		b = appendFuncName(b, rs)
		return append(b, `"}]`...)
	}
	return b
}

// appendRegionalResource opens a one-element resources list for a regional
// resource, up to the resource name: ...,"ARN":"arn:aws:SERVICE:REGION:ACCOUNT<sep>
func appendRegionalResource(b []byte, typ, service, region, acctID, sep string) []byte {
	b = append(b, `,"resources":[{"accountId":"`...)
	b = append(b, acctID...)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	b = append(b, `","ARN":"arn:aws:`...)
	b = append(b, service...)
	b = append(b, ':')
	b = append(b, region...)
	b = append(b, ':')
	b = append(b, acctID...)
	return append(b, sep...)
}
