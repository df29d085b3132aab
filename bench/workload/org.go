package workload

import (
	"strconv"

	"github.com/trailwatch/trailwatch/ingest"
)

// ptype is the identity flavour of a generated principal. It is finer than
// ingest.PrincipalType: SSO permission-set roles are AssumedRole sessions in
// CloudTrail but behave like people.
type ptype uint8

const (
	pIAMUser   ptype = iota
	pRole            // an IAM role assumed by applications (or, for style roleHuman, people)
	pSSO             // an AWSReservedSSO_* role used by people through IAM Identity Center
	pFederated       // GetFederationToken sessions issued by a broker IAM user
	pService         // an AWS service acting itself (invokedBy)
	pRoot            // an account's root user
	pIdC             // an IAM Identity Center user (identity-aware sessions)
)

// Role styles: what kind of workload assumes the role, which shapes its
// session names, user agent and action mix.
const (
	roleTask   uint8 = iota // ECS task role
	roleLambda              // Lambda execution role
	roleEC2                 // EC2 instance profile
	roleCI                  // GitHub Actions via OIDC (web identity)
	roleHuman               // assumed by engineers from the CLI, with sourceIdentity
	numRoleStyles
)

// principal is the whole per-principal state: 12 bytes, names and ids are
// derived from (seed, index) when needed.
type principal struct {
	typ    ptype
	style  uint8 // role style; for IAM users 1 = machine (CI key), 0 = person
	human  bool  // follows the working-day rhythm
	region uint8 // home region index
	acct   uint16
	_      uint16
	n      uint32 // ordinal within typ, for names
}

// eni is a network interface with a flow log, optionally attached to an instance.
type eni struct {
	acct     uint16
	region   uint8
	instance bool
	n        uint32 // ordinal, for ids and address
}

var firstNames = [...]string{
	"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "karl", "lena",
	"mallory", "nina", "oscar", "peggy", "quinn", "rupert", "sybil", "trent", "ursula", "victor", "wendy", "xavier",
	"yara", "zane", "amir", "bianca", "chen", "dmitri", "elif", "femi", "giulia", "hiro", "ines", "jonas",
	"kavya", "luca", "mei", "nadia", "omar", "priya", "rafael", "sofia", "tariq", "uma", "vera", "wei",
	"ximena", "yusuf", "zoe", "arjun", "beatriz", "cyrus", "dana", "emeka", "fatima", "gustav", "hana", "igor",
	"jin", "kofi", "leila", "mateo",
}

var lastNames = [...]string{
	"nguyen", "smith", "garcia", "mueller", "rossi", "kowalski", "tanaka", "okafor", "silva", "dubois", "jensen", "kim",
	"patel", "novak", "haddad", "larsen", "moreau", "ivanova", "santos", "cohen", "yilmaz", "fischer", "ali", "berg",
	"costa", "wright", "sato", "mensah", "lopez", "olsen", "khan", "becker", "ward", "park", "rahman", "weber",
	"nakamura", "adeyemi", "ferreira", "lindqvist", "horvat", "petrov", "zhang", "chowdhury", "meyer", "reyes", "singh", "brown",
	"kaya", "dahl", "mori", "obi", "pereira", "nilsen", "wagner", "cruz", "ito", "eze", "gomez", "holm",
	"lee", "schmidt", "baker", "young",
}

var appWords = [...]string{
	"orders", "payments", "catalog", "search", "billing", "ledger", "inventory", "shipping", "auth", "profile",
	"notify", "reports", "ingest", "etl", "ml-train", "recs", "media", "thumbnails", "audit", "backup",
	"export", "pricing", "fraud", "chat", "feeds", "geo", "quotes", "sessions", "tickets", "webhooks",
}

var componentWords = [...]string{"api", "worker", "scheduler", "consumer", "sync", "gateway", "loader", "indexer"}

var permissionSets = [...]string{
	"AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "DevOps", "DataEngineer", "Billing",
	"SecurityAudit", "DeveloperAccess", "SupportUser", "NetworkAdmin",
}

// services acting as AWSService principals (invokedBy), with the weight of
// their share of service principals' activity built in by Zipf rank.
var services = [...]string{
	"ec2.amazonaws.com", "lambda.amazonaws.com", "autoscaling.amazonaws.com", "ecs-tasks.amazonaws.com",
	"elasticloadbalancing.amazonaws.com", "cloudformation.amazonaws.com", "config.amazonaws.com",
	"cloudtrail.amazonaws.com", "logs.amazonaws.com", "events.amazonaws.com", "ssm.amazonaws.com",
	"s3.amazonaws.com", "secretsmanager.amazonaws.com", "rds.amazonaws.com", "backup.amazonaws.com",
	"monitoring.amazonaws.com", "states.amazonaws.com", "glue.amazonaws.com", "firehose.amazonaws.com",
	"sagemaker.amazonaws.com",
}

// appendPerson appends a person's login name for ordinal n ("alice.nguyen",
// then "alice.nguyen2" ... once the 4096 combinations are used up).
func appendPerson(b []byte, n uint32) []byte {
	b = append(b, firstNames[n%64]...)
	b = append(b, '.')
	b = append(b, lastNames[(n/64)%64]...)
	if k := n / 4096; k > 0 {
		b = strconv.AppendUint(b, uint64(k+1), 10)
	}
	return b
}

// appendName appends the IAM name of a principal (user name, role name,
// broker user name); for SSO it is the role name.
func (g *Generator) appendName(b []byte, p *principal) []byte {
	switch p.typ {
	case pIAMUser:
		if p.style == styleNew {
			b = append(b, "deploy-tmp-"...)
			return appendHex(b, hash3(g.seed, saltIncident, uint64(p.n)), 6)
		}
		if p.style == styleMachine {
			b = append(b, "svc-"...)
			b = append(b, appWords[p.n%uint32(len(appWords))]...)
			b = append(b, '-')
			return strconv.AppendUint(b, uint64(p.n), 10)
		}
		return appendPerson(b, p.n)
	case pRole:
		if p.style == roleHuman {
			b = append(b, "eng-admin-"...)
			return strconv.AppendUint(b, uint64(p.n), 10)
		}
		b = append(b, appWords[p.n%uint32(len(appWords))]...)
		b = append(b, '-')
		b = append(b, componentWords[(p.n/uint32(len(appWords)))%uint32(len(componentWords))]...)
		b = append(b, roleSuffix[p.style]...)
		return strconv.AppendUint(b, uint64(p.n), 10)
	case pSSO:
		b = append(b, "AWSReservedSSO_"...)
		b = append(b, permissionSets[p.n%uint32(len(permissionSets))]...)
		b = append(b, '_')
		return appendHex(b, hash3(g.seed, saltSSO, uint64(p.n)), 16)
	case pFederated:
		b = append(b, "fedbroker-"...)
		return strconv.AppendUint(b, uint64(p.n), 10)
	case pService:
		return append(b, services[p.n%uint32(len(services))]...)
	case pRoot:
		return append(b, "root"...)
	case pIdC:
		b = appendPerson(b, p.n+1234)
		return append(b, "@example.com"...)
	}
	return b
}

var roleSuffix = [numRoleStyles]string{
	roleTask:   "-task-role-",
	roleLambda: "-lambda-role-",
	roleEC2:    "-ec2-profile-",
	roleCI:     "-github-deploy-",
	roleHuman:  "",
}

// appendKey appends the canonical principal key (see the package doc).
func (g *Generator) appendKey(b []byte, p *principal) []byte {
	acct := g.accounts[p.acct]
	switch p.typ {
	case pIAMUser, pFederated:
		b = append(b, "arn:aws:iam::"...)
		b = append(b, acct...)
		b = append(b, ":user/"...)
		return g.appendName(b, p)
	case pRole:
		b = append(b, "arn:aws:iam::"...)
		b = append(b, acct...)
		b = append(b, ":role/"...)
		return g.appendName(b, p)
	case pSSO:
		b = append(b, "arn:aws:iam::"...)
		b = append(b, acct...)
		b = append(b, ":role/aws-reserved/sso.amazonaws.com/"...)
		return g.appendName(b, p)
	case pRoot:
		return append(b, acct...)
	case pService, pIdC:
		return g.appendName(b, p)
	}
	return b
}

func (p *principal) ingestType() ingest.PrincipalType {
	switch p.typ {
	case pIAMUser:
		return ingest.PrincipalIAMUser
	case pRole, pSSO:
		return ingest.PrincipalAssumedRole
	case pFederated:
		return ingest.PrincipalFederatedUser
	case pService:
		return ingest.PrincipalAWSService
	case pRoot:
		return ingest.PrincipalRoot
	case pIdC:
		return ingest.PrincipalIdentityCenterUser
	}
	return ingest.PrincipalUnknown
}

// Salts separate the hash streams derived from the seed.
const (
	saltOrg uint64 = iota + 1
	saltAccount
	saltSSO
	saltAKIA
	saltAIDA
	saltAROA
	saltASIA
	saltInstance
	saltENI
	saltVPC
	saltFlowLog
	saltEvent
	saltIncident
	saltFile
	saltKMS
	saltIdC
	saltMinute
	saltSession
)

const hexDigits = "0123456789abcdef"

// appendHex appends the low 4*n bits of v as n lower-case hex digits (n <= 16).
func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(v>>(4*uint(i)))&15])
	}
	return b
}

const base32Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// appendKeyID appends an AWS-style 20-character key id: a 4-letter prefix
// (AKIA, ASIA) and 16 base-32 characters from v.
func appendKeyID(b []byte, prefix string, v uint64) []byte { return appendIDN(b, prefix, v, 16) }

// appendIDN appends prefix and n base-32 characters derived from v.
func appendIDN(b []byte, prefix string, v uint64, n int) []byte {
	b = append(b, prefix...)
	for i := 0; i < n; i++ {
		if i > 0 && i%12 == 0 {
			v = mix(v + uint64(i))
		}
		b = append(b, base32Upper[v&31])
		v >>= 5
	}
	return b
}

// appendUUID appends a UUID-shaped (version 4 layout) string from two words.
func appendUUID(b []byte, hi, lo uint64) []byte {
	b = appendHex(b, hi>>32, 8)
	b = append(b, '-')
	b = appendHex(b, hi>>16, 4)
	b = append(b, '-')
	b = appendHex(b, 0x4000|hi&0x0fff, 4)
	b = append(b, '-')
	b = appendHex(b, 0x8000|lo>>48&0x3fff, 4)
	b = append(b, '-')
	return appendHex(b, lo, 12)
}

// appendInstanceID appends "i-0" and 16 hex digits for ENI ordinal n.
func (g *Generator) appendInstanceID(b []byte, n uint32) []byte {
	b = append(b, "i-0"...)
	return appendHex(b, hash3(g.seed, saltInstance, uint64(n)), 16)
}

// appendENIID appends "eni-0" and 16 hex digits for ENI ordinal n.
func (g *Generator) appendENIID(b []byte, n uint32) []byte {
	b = append(b, "eni-0"...)
	return appendHex(b, hash3(g.seed, saltENI, uint64(n)), 16)
}

// appendPrivateIP appends the ENI's 10.x address: the second octet encodes
// account and region so that address ranges look like per-VPC CIDRs.
func appendPrivateIP(b []byte, e *eni) []byte {
	b = append(b, "10."...)
	b = strconv.AppendUint(b, uint64((uint32(e.acct)*8+uint32(e.region))%256), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, uint64((e.n/250)%256), 10)
	b = append(b, '.')
	return strconv.AppendUint(b, uint64(e.n%250+4), 10)
}
