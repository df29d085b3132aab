package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"strings"
)

// Records shaped like real CloudTrail output (AWS documentation examples),
// used across the tests.

// recIAMUser is a management event by an IAM user.
const recIAMUser = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","arn":"arn:aws:iam::111122223333:user/anaya","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"anaya"},"eventTime":"2023-06-01T12:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.10","userAgent":"aws-cli/2.13.0","requestParameters":null,"responseElements":null,"requestID":"5d2f9c1e-0000-4000-8000-000000000001","eventID":"11111111-2222-3333-4444-555555555551","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`

// recS3 is an S3 data event (GetObject) by an assumed role, about 1.6 KiB,
// with nested requestParameters and bytesTransferredOut: the benchmark record.
const recS3 = `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAIDPPEZS35WEXAMPLE:etl-job-7","arn":"arn:aws:sts::111122223333:assumed-role/DataPipelineRole/etl-job-7","accountId":"111122223333","accessKeyId":"ASIAIOSFODNN7EXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAIDPPEZS35WEXAMPLE","arn":"arn:aws:iam::111122223333:role/service/DataPipelineRole","accountId":"111122223333","userName":"DataPipelineRole"},"attributes":{"creationDate":"2024-03-05T09:12:44Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0"}},"eventTime":"2024-03-05T09:30:12Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.23","userAgent":"[aws-sdk-java/2.20.162 Linux/5.10.205-195.807.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.9+8-LTS Java/17.0.9 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy]","requestParameters":{"bucketName":"example-analytics-raw","Host":"example-analytics-raw.s3.eu-west-1.amazonaws.com","key":"exports/2024/03/05/part-00017-3c1f6a52-7a3e-4f43-9b4e-0c6d1a2b3c4d.snappy.parquet","x-id":"GetObject","partNumber":"1","versionId":"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"},"responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"Cu0GDeoqf9rI7cbrCLpTMdL4cMgmW5mJkgH3i5zJXbc0YuGk4sOr+w9nKyq1y3nG5VF8yh2M0Vw=","bytesTransferredOut":8388608},"requestID":"8X1KQ3F7G2H9J4K5","eventID":"0f6b3c2d-9a8e-4b7c-8d6e-5f4a3b2c1d0e","readOnly":true,"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::example-analytics-raw/exports/2024/03/05/part-00017-3c1f6a52-7a3e-4f43-9b4e-0c6d1a2b3c4d.snappy.parquet"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::example-analytics-raw"}],"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"example-analytics-raw.s3.eu-west-1.amazonaws.com"}}`

// recConsole is a console sign-in by the root user.
const recConsole = `{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":""},"eventTime":"2023-06-01T12:05:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"Yes"},"eventID":"11111111-2222-3333-4444-555555555552","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`

// recInsight is an Insights event (no userIdentity).
const recInsight = `{"eventVersion":"1.07","eventTime":"2019-11-14T00:51:00Z","awsRegion":"us-east-1","eventID":"EXAMPLE8-9621-4d00-b913-beca2EXAMPLE","eventType":"AwsCloudTrailInsight","recipientAccountId":"123456789012","sharedEventID":"EXAMPLE2-1729-42f1-b735-5d8c0EXAMPLE","insightDetails":{"state":"Start","eventSource":"ssm.amazonaws.com","eventName":"UpdateInstanceInformation","insightType":"ApiCallRateInsight","insightContext":{"statistics":{"baseline":{"average":85.4202380952},"insight":{"average":664}}}},"eventCategory":"Insight"}`

// recDigest is a CloudTrail digest file.
const recDigest = `{"awsAccountId":"111122223333","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"S3-bucket-name","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2015-08-17T14:52:27Z","oldestEventTime":"2015-08-17T14:42:27Z","previousDigestS3Bucket":"S3-bucket-name","previousDigestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz","previousDigestHashValue":"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3652fc4dfc30937e4d5f4cc7f796e7a258fb50a43ac427f2237f6e505d4efaf373d156e15e3b68dea9f58111d395b62628d6bd367a9024d2183b5f5fad2f5d3f4e3d4e2fd4d6b2fd5ad3c4e7cd4f4ef5d","logFiles":[{"s3Bucket":"S3-bucket-name","s3Object":"AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz","hashValue":"9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6","hashAlgorithm":"SHA-256","newestEventTime":"2015-08-17T14:52:27Z","oldestEventTime":"2015-08-17T14:42:27Z"}]}`

// eventBridge wraps a record the way EventBridge delivers it.
func eventBridge(detailType, record string) string {
	return `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"` + detailType +
		`","source":"aws.iam","account":"111122223333","time":"2023-06-01T12:00:00Z","region":"us-east-1","resources":[],"detail":` + record + `}`
}

// cwlPayload is a CloudWatch Logs subscription DATA_MESSAGE carrying records.
func cwlPayload(records ...string) string {
	var b strings.Builder
	b.WriteString(`{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"aws-cloudtrail-logs-111122223333","logStream":"111122223333_CloudTrail_us-east-1","subscriptionFilters":["to-kinesis"],"logEvents":[`)
	for i, r := range records {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"3719551086520849264862867364806582925858592766887000000` + string(rune('0'+i)) + `","timestamp":1685620800000,"message":`)
		b.WriteString(jsonString(r))
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.String()
}

const cwlControl = `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1685620800000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}`

// lookupEvents is `aws cloudtrail lookup-events` output.
func lookupEvents(records ...string) string {
	var b strings.Builder
	b.WriteString(`{"Events":[`)
	for i, r := range records {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"EventId":"x","EventName":"ListUsers","ReadOnly":"true","EventTime":"2023-06-01T12:00:00+00:00","EventSource":"iam.amazonaws.com","Username":"anaya","Resources":[],"CloudTrailEvent":`)
		b.WriteString(jsonString(r))
		b.WriteByte('}')
	}
	b.WriteString(`],"NextToken":"eyJOZXh0VG9rZW4iOiBudWxsfQ=="}`)
	return b.String()
}

func jsonString(s string) string {
	return string(appendString(nil, s))
}

func records(recs ...string) string {
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func base64Gzip(b []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(gzipBytes(b)))
}
