package cloudtrail

import (
	"bytes"

	"github.com/trailwatch/trailwatch/ingest"
)

// Principal resolution: one canonical key per identity, so that baselines
// follow the identity whatever session, access key or console sign-in it used.
//
//	Root                      key = account id
//	IAMUser                   key = user ARN (rebuilt from accountId and
//	                          userName when absent)
//	AssumedRole, FederatedUser key = session issuer ARN (the role or user that
//	                          issued the session); SubKey = sourceIdentity, else
//	                          the session name
//	  ... issuer AWSReservedSSO_* (IAM Identity Center permission set):
//	                          SubKey = the person, from principalId
//	AWSService                key = invokedBy; account = recipientAccountId
//	AWSAccount                key = calling account id; SubKey = principalId
//	IdentityCenterUser        key = additionalEventData.UserName, else
//	                          onBehalfOf.userId, else principalId
//	anything else             key = principalId, arn, userName, invokedBy, accountId
//
// The fallbacks exist because real records (and the corpus) omit fields.

// rawPrincipal is a resolved principal as slices into the parsed record.
type rawPrincipal struct {
	key, sub, account []byte
	typ               ingest.PrincipalType
}

// ssoRolePrefix marks the roles IAM Identity Center creates for permission sets.
const ssoRolePrefix = "AWSReservedSSO_"

// principalType maps userIdentity.type. Only CloudTrail's spellings count; the
// flow-log types ingest.ParsePrincipalType also knows become Unknown here.
func principalType(b []byte) ingest.PrincipalType {
	switch string(b) {
	case "Root":
		return ingest.PrincipalRoot
	case "IAMUser":
		return ingest.PrincipalIAMUser
	case "AssumedRole":
		return ingest.PrincipalAssumedRole
	case "FederatedUser":
		return ingest.PrincipalFederatedUser
	case "AWSService":
		return ingest.PrincipalAWSService
	case "AWSAccount":
		return ingest.PrincipalAWSAccount
	case "IdentityCenterUser":
		return ingest.PrincipalIdentityCenterUser
	case "Role":
		return ingest.PrincipalRole
	case "Directory":
		return ingest.PrincipalDirectory
	case "SAMLUser":
		return ingest.PrincipalSAMLUser
	case "WebIdentityUser":
		return ingest.PrincipalWebIdentityUser
	}
	return ingest.PrincipalUnknown
}

// resolvePrincipal applies the table above; ok is false when nothing usable
// identifies the actor.
// scratch is resolvePrincipal's buffer for a built key; the caller copies
// the key (interning it) before the next call.
func resolvePrincipal(f *fields, scratch []byte) (p rawPrincipal, ok bool) {
	if !f.hasIdentity {
		return p, false
	}
	p.typ = principalType(f.uiType)
	p.account = first(f.accountID, f.recipient)
	switch p.typ {
	case ingest.PrincipalRoot:
		p.key = p.account
	case ingest.PrincipalIAMUser:
		p.key = f.arn
		if len(p.key) == 0 && len(p.account) > 0 && len(f.userName) > 0 {
			// Console sign-in events of the MFA flow (CheckMfa, some
			// ConsoleLogin) omit the arn. Rebuilding it keeps the user on
			// one key; only a user created with a path gets a second one.
			p.key = userARN(scratch[:0], f.awsRegion, p.account, f.userName)
		}
		if len(p.key) == 0 {
			p.key = first(f.principalID, f.userName)
		}
	case ingest.PrincipalAssumedRole, ingest.PrincipalFederatedUser:
		if len(f.issuerARN) > 0 {
			p.key = f.issuerARN
			if isSSOIssuer(f.issuerARN) {
				p.sub = afterColon(f.principalID)
			}
		} else {
			p.key = first(f.arn, f.principalID)
		}
		if len(p.sub) == 0 {
			p.sub = first(f.sourceIdent, sessionName(f.arn), afterColon(f.principalID))
		}
	case ingest.PrincipalAWSService:
		p.key = first(f.invokedBy, f.principalID, f.arn, f.userName)
		p.account = first(f.recipient, f.accountID)
	case ingest.PrincipalAWSAccount:
		// The calling account is the identity; without it there is none.
		p.key = f.accountID
		p.sub = f.principalID
	case ingest.PrincipalIdentityCenterUser:
		p.key = first(f.aedUserName, f.onBehalfOf, f.principalID)
	default:
		// invokedBy before accountId: a typeless identity such as AWS's own
		// {"accountId": ..., "invokedBy": "AWS Internal"} is the service
		// acting, and keying it by the account would merge it into Root's
		// baseline.
		p.key = first(f.principalID, f.arn, f.userName, f.invokedBy, f.accountID)
	}
	return p, len(p.key) > 0
}

// userARN builds arn:PARTITION:iam::ACCOUNT:user/NAME, the partition from
// the region (cn-* is aws-cn, us-gov-* is aws-us-gov).
func userARN(dst, region, account, name []byte) []byte {
	partition := "aws"
	switch {
	case bytes.HasPrefix(region, []byte("cn-")):
		partition = "aws-cn"
	case bytes.HasPrefix(region, []byte("us-gov-")):
		partition = "aws-us-gov"
	}
	dst = append(dst, "arn:"...)
	dst = append(dst, partition...)
	dst = append(dst, ":iam::"...)
	dst = append(dst, account...)
	dst = append(dst, ":user/"...)
	return append(dst, name...)
}

func first(bs ...[]byte) []byte {
	for _, b := range bs {
		if len(b) > 0 {
			return b
		}
	}
	return nil
}

// isSSOIssuer reports whether an issuer ARN names an IAM Identity Center
// permission-set role (its name, the last path segment, starts with
// AWSReservedSSO_).
func isSSOIssuer(arn []byte) bool {
	return bytes.HasPrefix(arn[bytes.LastIndexByte(arn, '/')+1:], []byte(ssoRolePrefix))
}

// afterColon returns what follows the first ':' of a principalId
// ("AROA...:bob" -> "bob"), or nil.
func afterColon(b []byte) []byte {
	if i := bytes.IndexByte(b, ':'); i >= 0 && i+1 < len(b) {
		return b[i+1:]
	}
	return nil
}

// sessionName returns the session name in an STS ARN:
// arn:aws:sts::111122223333:assumed-role/Role/Session -> Session,
// arn:aws:sts::111122223333:federated-user/Name -> Name.
func sessionName(arn []byte) []byte {
	res := arn
	for range 5 { // skip arn:partition:service:region:account:
		i := bytes.IndexByte(res, ':')
		if i < 0 {
			return nil
		}
		res = res[i+1:]
	}
	if rest, ok := bytes.CutPrefix(res, []byte("assumed-role/")); ok {
		if i := bytes.LastIndexByte(rest, '/'); i >= 0 && i+1 < len(rest) {
			return rest[i+1:]
		}
		return nil
	}
	if rest, ok := bytes.CutPrefix(res, []byte("federated-user/")); ok && len(rest) > 0 {
		return rest
	}
	return nil
}
