package respond

import (
	"errors"

	"github.com/aws/smithy-go"
)

// classifyAWS marks client errors (validation, authorization, not found)
// permanent; throttling, server faults and transport errors stay retryable.
func classifyAWS(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "RequestThrottled", "ServiceUnavailable", "InternalError",
		"InternalFailure", "KMSThrottlingException":
		return err
	}
	if ae.ErrorFault() == smithy.FaultClient {
		return Permanent(err)
	}
	return err
}

// isAWSCode reports whether err is an AWS API error with the given code.
func isAWSCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
