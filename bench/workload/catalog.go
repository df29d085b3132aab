package workload

import "fmt"

// tmpl selects how an action's requestParameters, responseElements,
// additionalEventData and resources are rendered.
type tmpl uint8

const (
	tNone tmpl = iota
	tEC2Describe
	tEC2Instance // Start/StopInstances
	tEC2Run
	tEC2Tags
	tEC2SG
	tEC2ENI
	tS3ListBuckets
	tS3Bucket
	tS3Object
	tS3List
	tIAMList
	tIAMUser
	tIAMRole
	tIAMCreateUser
	tIAMCreateKey
	tSTSAssumeRole
	tKMSDecrypt
	tKMSDataKey
	tLambdaList
	tLambdaFunc
	tLambdaInvoke
	tDDBItem
	tDDBQuery
	tDDBTable
	tSecret
	tSecretList
	tSSMParam
	tLogsGroups
	tLogsStream
	tCFNStack
	tCWAlarms
	tCWMetricData
	tRDS
	tSSOList
	tSSOCreds
	tQChat
)

// action is one CloudTrail eventSource/eventName with how to render it.
type action struct {
	source   string // eventSource
	name     string // eventName
	iam      string // IAM action prefix, for AccessDenied messages
	host     string // TLS host prefix: "ec2" gives ec2.REGION.amazonaws.com; "" for global iam
	global   bool   // recorded in us-east-1 whatever the caller's region
	readOnly bool
	data     bool // a data event (eventCategory Data, managementEvent false)
	t        tmpl
	denied   string // errorCode when access is denied
	throttle string // errorCode when throttled
	notFound string // errorCode when the target does not exist; "" if not applicable
}

// actions is the catalogue. Profiles refer to entries by eventName (unique here).
var actions = []action{
	{source: "ec2.amazonaws.com", name: "DescribeInstances", iam: "ec2", host: "ec2", readOnly: true, t: tEC2Describe, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded", notFound: "Client.InvalidInstanceID.NotFound"},
	{source: "ec2.amazonaws.com", name: "DescribeSecurityGroups", iam: "ec2", host: "ec2", readOnly: true, t: tEC2Describe, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded"},
	{source: "ec2.amazonaws.com", name: "DescribeVpcs", iam: "ec2", host: "ec2", readOnly: true, t: tEC2Describe, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded"},
	{source: "ec2.amazonaws.com", name: "DescribeSubnets", iam: "ec2", host: "ec2", readOnly: true, t: tEC2Describe, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded"},
	{source: "ec2.amazonaws.com", name: "DescribeVolumes", iam: "ec2", host: "ec2", readOnly: true, t: tEC2Describe, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded"},
	{source: "ec2.amazonaws.com", name: "StartInstances", iam: "ec2", host: "ec2", t: tEC2Instance, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded", notFound: "Client.InvalidInstanceID.NotFound"},
	{source: "ec2.amazonaws.com", name: "StopInstances", iam: "ec2", host: "ec2", t: tEC2Instance, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded", notFound: "Client.InvalidInstanceID.NotFound"},
	{source: "ec2.amazonaws.com", name: "RunInstances", iam: "ec2", host: "ec2", t: tEC2Run, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded"},
	{source: "ec2.amazonaws.com", name: "CreateTags", iam: "ec2", host: "ec2", t: tEC2Tags, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded", notFound: "Client.InvalidInstanceID.NotFound"},
	{source: "ec2.amazonaws.com", name: "AuthorizeSecurityGroupIngress", iam: "ec2", host: "ec2", t: tEC2SG, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded", notFound: "Client.InvalidGroup.NotFound"},
	{source: "ec2.amazonaws.com", name: "CreateNetworkInterface", iam: "ec2", host: "ec2", t: tEC2ENI, denied: "Client.UnauthorizedOperation", throttle: "Client.RequestLimitExceeded"},
	{source: "s3.amazonaws.com", name: "ListBuckets", iam: "s3", host: "s3", readOnly: true, t: tS3ListBuckets, denied: "AccessDenied", throttle: "SlowDown"},
	{source: "s3.amazonaws.com", name: "GetBucketPolicy", iam: "s3", host: "s3", readOnly: true, t: tS3Bucket, denied: "AccessDenied", throttle: "SlowDown", notFound: "NoSuchBucketPolicy"},
	{source: "s3.amazonaws.com", name: "GetBucketAcl", iam: "s3", host: "s3", readOnly: true, t: tS3Bucket, denied: "AccessDenied", throttle: "SlowDown", notFound: "NoSuchBucket"},
	{source: "s3.amazonaws.com", name: "GetObject", iam: "s3", host: "s3", readOnly: true, data: true, t: tS3Object, denied: "AccessDenied", throttle: "SlowDown", notFound: "NoSuchKey"},
	{source: "s3.amazonaws.com", name: "PutObject", iam: "s3", host: "s3", data: true, t: tS3Object, denied: "AccessDenied", throttle: "SlowDown", notFound: "NoSuchBucket"},
	{source: "s3.amazonaws.com", name: "DeleteObject", iam: "s3", host: "s3", data: true, t: tS3Object, denied: "AccessDenied", throttle: "SlowDown"},
	{source: "s3.amazonaws.com", name: "ListObjects", iam: "s3", host: "s3", readOnly: true, data: true, t: tS3List, denied: "AccessDenied", throttle: "SlowDown", notFound: "NoSuchBucket"},
	{source: "iam.amazonaws.com", name: "ListUsers", iam: "iam", global: true, readOnly: true, t: tIAMList, denied: "AccessDenied", throttle: "Throttling"},
	{source: "iam.amazonaws.com", name: "ListRoles", iam: "iam", global: true, readOnly: true, t: tIAMList, denied: "AccessDenied", throttle: "Throttling"},
	{source: "iam.amazonaws.com", name: "ListPolicies", iam: "iam", global: true, readOnly: true, t: tIAMList, denied: "AccessDenied", throttle: "Throttling"},
	{source: "iam.amazonaws.com", name: "GetUser", iam: "iam", global: true, readOnly: true, t: tIAMUser, denied: "AccessDenied", throttle: "Throttling", notFound: "NoSuchEntityException"},
	{source: "iam.amazonaws.com", name: "ListAccessKeys", iam: "iam", global: true, readOnly: true, t: tIAMUser, denied: "AccessDenied", throttle: "Throttling", notFound: "NoSuchEntityException"},
	{source: "iam.amazonaws.com", name: "ListAttachedUserPolicies", iam: "iam", global: true, readOnly: true, t: tIAMUser, denied: "AccessDenied", throttle: "Throttling", notFound: "NoSuchEntityException"},
	{source: "iam.amazonaws.com", name: "GetRole", iam: "iam", global: true, readOnly: true, t: tIAMRole, denied: "AccessDenied", throttle: "Throttling", notFound: "NoSuchEntityException"},
	{source: "iam.amazonaws.com", name: "ListAttachedRolePolicies", iam: "iam", global: true, readOnly: true, t: tIAMRole, denied: "AccessDenied", throttle: "Throttling", notFound: "NoSuchEntityException"},
	{source: "iam.amazonaws.com", name: "CreateUser", iam: "iam", global: true, t: tIAMCreateUser, denied: "AccessDenied", throttle: "Throttling"},
	{source: "iam.amazonaws.com", name: "CreateAccessKey", iam: "iam", global: true, t: tIAMCreateKey, denied: "AccessDenied", throttle: "Throttling", notFound: "NoSuchEntityException"},
	{source: "sts.amazonaws.com", name: "GetCallerIdentity", iam: "sts", host: "sts", readOnly: true, t: tNone, denied: "AccessDenied", throttle: "Throttling"},
	{source: "sts.amazonaws.com", name: "AssumeRole", iam: "sts", host: "sts", readOnly: true, t: tSTSAssumeRole, denied: "AccessDenied", throttle: "Throttling"},
	{source: "kms.amazonaws.com", name: "Decrypt", iam: "kms", host: "kms", readOnly: true, t: tKMSDecrypt, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "NotFoundException"},
	{source: "kms.amazonaws.com", name: "GenerateDataKey", iam: "kms", host: "kms", readOnly: true, t: tKMSDataKey, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "NotFoundException"},
	{source: "lambda.amazonaws.com", name: "ListFunctions20150331", iam: "lambda", host: "lambda", readOnly: true, t: tLambdaList, denied: "AccessDeniedException", throttle: "TooManyRequestsException"},
	{source: "lambda.amazonaws.com", name: "GetFunction20150331v2", iam: "lambda", host: "lambda", readOnly: true, t: tLambdaFunc, denied: "AccessDeniedException", throttle: "TooManyRequestsException", notFound: "ResourceNotFoundException"},
	{source: "lambda.amazonaws.com", name: "UpdateFunctionCode20150331v2", iam: "lambda", host: "lambda", t: tLambdaFunc, denied: "AccessDeniedException", throttle: "TooManyRequestsException", notFound: "ResourceNotFoundException"},
	{source: "lambda.amazonaws.com", name: "Invoke", iam: "lambda", host: "lambda", data: true, t: tLambdaInvoke, denied: "AccessDeniedException", throttle: "TooManyRequestsException", notFound: "ResourceNotFoundException"},
	{source: "dynamodb.amazonaws.com", name: "GetItem", iam: "dynamodb", host: "dynamodb", readOnly: true, data: true, t: tDDBItem, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "ResourceNotFoundException"},
	{source: "dynamodb.amazonaws.com", name: "PutItem", iam: "dynamodb", host: "dynamodb", data: true, t: tDDBItem, denied: "AccessDeniedException", throttle: "ProvisionedThroughputExceededException", notFound: "ResourceNotFoundException"},
	{source: "dynamodb.amazonaws.com", name: "Query", iam: "dynamodb", host: "dynamodb", readOnly: true, data: true, t: tDDBQuery, denied: "AccessDeniedException", throttle: "ProvisionedThroughputExceededException", notFound: "ResourceNotFoundException"},
	{source: "dynamodb.amazonaws.com", name: "DescribeTable", iam: "dynamodb", host: "dynamodb", readOnly: true, t: tDDBTable, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "ResourceNotFoundException"},
	{source: "secretsmanager.amazonaws.com", name: "GetSecretValue", iam: "secretsmanager", host: "secretsmanager", readOnly: true, t: tSecret, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "ResourceNotFoundException"},
	{source: "secretsmanager.amazonaws.com", name: "ListSecrets", iam: "secretsmanager", host: "secretsmanager", readOnly: true, t: tSecretList, denied: "AccessDeniedException", throttle: "ThrottlingException"},
	{source: "ssm.amazonaws.com", name: "GetParameter", iam: "ssm", host: "ssm", readOnly: true, t: tSSMParam, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "ParameterNotFound"},
	{source: "logs.amazonaws.com", name: "DescribeLogGroups", iam: "logs", host: "logs", readOnly: true, t: tLogsGroups, denied: "AccessDeniedException", throttle: "ThrottlingException"},
	{source: "logs.amazonaws.com", name: "CreateLogStream", iam: "logs", host: "logs", t: tLogsStream, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "ResourceNotFoundException"},
	{source: "cloudformation.amazonaws.com", name: "DescribeStacks", iam: "cloudformation", host: "cloudformation", readOnly: true, t: tCFNStack, denied: "AccessDenied", throttle: "Throttling", notFound: "ValidationError"},
	{source: "monitoring.amazonaws.com", name: "DescribeAlarms", iam: "cloudwatch", host: "monitoring", readOnly: true, t: tCWAlarms, denied: "AccessDenied", throttle: "Throttling"},
	{source: "monitoring.amazonaws.com", name: "GetMetricData", iam: "cloudwatch", host: "monitoring", readOnly: true, t: tCWMetricData, denied: "AccessDenied", throttle: "Throttling"},
	{source: "rds.amazonaws.com", name: "DescribeDBInstances", iam: "rds", host: "rds", readOnly: true, t: tRDS, denied: "AccessDenied", throttle: "Throttling", notFound: "DBInstanceNotFound"},
	{source: "ecr.amazonaws.com", name: "GetAuthorizationToken", iam: "ecr", host: "api.ecr", readOnly: true, t: tNone, denied: "AccessDeniedException", throttle: "ThrottlingException"},
	{source: "sso.amazonaws.com", name: "ListAccounts", iam: "sso", host: "portal.sso", readOnly: true, t: tSSOList, denied: "AccessDeniedException", throttle: "TooManyRequestsException"},
	{source: "sso.amazonaws.com", name: "ListAccountRoles", iam: "sso", host: "portal.sso", readOnly: true, t: tSSOList, denied: "AccessDeniedException", throttle: "TooManyRequestsException"},
	{source: "sso.amazonaws.com", name: "GetRoleCredentials", iam: "sso", host: "portal.sso", readOnly: true, t: tSSOCreds, denied: "AccessDeniedException", throttle: "TooManyRequestsException", notFound: "ResourceNotFoundException"},
	{source: "qbusiness.amazonaws.com", name: "ChatSync", iam: "qbusiness", host: "qbusiness", t: tQChat, denied: "AccessDeniedException", throttle: "ThrottlingException", notFound: "ResourceNotFoundException"},
}

// Action mixes by profile.
type profile uint8

const (
	profHuman   profile = iota // engineers at a console or CLI
	profApp                    // workloads: task roles, Lambda, instance profiles, service IAM users
	profCI                     // deploy pipelines
	profService                // AWS services acting themselves
	profIdC                    // Identity Center users in AWS applications
	profRecon                  // incident: enumeration with a stolen or new key (List/Describe/Get)
	profStorm                  // incident: probing what a principal may do (mostly denied)
	numProfiles
)

type weighted struct {
	name string
	w    float64
}

var profileSpecs = [numProfiles][]weighted{
	profHuman: {
		{"DescribeInstances", 10}, {"DescribeSecurityGroups", 4}, {"DescribeVpcs", 2}, {"DescribeSubnets", 2}, {"DescribeVolumes", 2},
		{"ListBuckets", 3}, {"GetObject", 8}, {"PutObject", 3}, {"ListObjects", 6}, {"GetBucketPolicy", 2}, {"GetBucketAcl", 1},
		{"ListUsers", 2}, {"ListRoles", 3}, {"GetRole", 2}, {"GetUser", 1}, {"ListAttachedRolePolicies", 1},
		{"GetCallerIdentity", 4}, {"AssumeRole", 2}, {"DescribeStacks", 5}, {"DescribeLogGroups", 4},
		{"ListFunctions20150331", 3}, {"GetFunction20150331v2", 2}, {"DescribeAlarms", 3}, {"GetMetricData", 3},
		{"DescribeDBInstances", 3}, {"GetParameter", 3}, {"StartInstances", 1}, {"StopInstances", 1}, {"CreateTags", 1},
		{"AuthorizeSecurityGroupIngress", 0.5}, {"RunInstances", 0.5}, {"UpdateFunctionCode20150331v2", 1},
		{"GetSecretValue", 2}, {"Decrypt", 2}, {"DescribeTable", 2},
	},
	profApp: {
		{"GetObject", 25}, {"PutObject", 10}, {"ListObjects", 5}, {"DeleteObject", 1}, {"GetItem", 12}, {"PutItem", 8}, {"Query", 8},
		{"Decrypt", 10}, {"GenerateDataKey", 6}, {"GetSecretValue", 4}, {"GetParameter", 4}, {"AssumeRole", 3},
		{"GetCallerIdentity", 1}, {"CreateLogStream", 3}, {"GetMetricData", 2}, {"Invoke", 4}, {"GetAuthorizationToken", 2},
	},
	profCI: {
		{"PutObject", 10}, {"GetObject", 6}, {"GetAuthorizationToken", 6}, {"DescribeStacks", 8}, {"UpdateFunctionCode20150331v2", 4},
		{"GetFunction20150331v2", 4}, {"DescribeInstances", 4}, {"DescribeSecurityGroups", 2}, {"GetRole", 4},
		{"GetCallerIdentity", 5}, {"GetParameter", 4}, {"CreateTags", 2},
	},
	profService: {
		{"AssumeRole", 70}, {"Decrypt", 15}, {"GenerateDataKey", 10}, {"CreateNetworkInterface", 5},
	},
	profIdC: {
		{"ListAccounts", 20}, {"ListAccountRoles", 15}, {"GetRoleCredentials", 20}, {"GetObject", 20}, {"ChatSync", 15}, {"ListObjects", 10},
	},
	profRecon: {
		{"ListUsers", 8}, {"ListRoles", 8}, {"ListPolicies", 5}, {"ListAccessKeys", 6}, {"GetUser", 4}, {"ListAttachedUserPolicies", 4},
		{"GetRole", 3}, {"DescribeInstances", 8}, {"DescribeSecurityGroups", 5}, {"DescribeVpcs", 4}, {"DescribeSubnets", 3},
		{"DescribeVolumes", 3}, {"ListBuckets", 6}, {"GetBucketPolicy", 5}, {"GetBucketAcl", 3}, {"ListFunctions20150331", 4},
		{"ListSecrets", 5}, {"GetCallerIdentity", 2}, {"DescribeDBInstances", 3}, {"DescribeLogGroups", 3}, {"DescribeStacks", 3},
	},
	profStorm: {
		{"GetSecretValue", 10}, {"ListSecrets", 4}, {"ListUsers", 6}, {"ListRoles", 4}, {"GetRole", 4}, {"CreateAccessKey", 3},
		{"CreateUser", 2}, {"GetObject", 8}, {"ListBuckets", 3}, {"GetBucketPolicy", 4}, {"Decrypt", 5}, {"DescribeInstances", 4},
		{"GetFunction20150331v2", 3}, {"GetParameter", 4}, {"DescribeDBInstances", 2},
	},
}

// profileTables holds, per profile, the action indices and an alias table over their weights.
var profileTables [numProfiles]struct {
	idx   []uint8
	table alias
}

// actionIndex maps an eventName to its catalogue index.
var actionIndex = map[string]uint8{}

func init() {
	if len(actions) > 255 {
		panic("workload: action catalogue larger than uint8")
	}
	for i, a := range actions {
		if _, dup := actionIndex[a.name]; dup {
			panic(fmt.Sprintf("workload: duplicate action %s", a.name))
		}
		actionIndex[a.name] = uint8(i)
	}
	for p, spec := range profileSpecs {
		w := make([]float64, len(spec))
		for i, s := range spec {
			ai, ok := actionIndex[s.name]
			if !ok {
				panic(fmt.Sprintf("workload: profile %d names unknown action %s", p, s.name))
			}
			profileTables[p].idx = append(profileTables[p].idx, ai)
			w[i] = s.w
		}
		profileTables[p].table = newAlias(w)
	}
}

func pickAction(p profile, r *rng) uint8 {
	t := &profileTables[p]
	return t.idx[t.table.sample(r)]
}

func mustAction(name string) uint8 { return actionIndex[name] }
