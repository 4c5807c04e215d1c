package ingest

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// GrantConsumeRuleErrors lets grantee read and delete RuleErrors' messages (a person or a
// redrive function working through what the rules failed to deliver), and decrypt them with
// RuleErrorsKey, also when RuleErrors is an imported queue that does not know its key.
func (in *Ingest) GrantConsumeRuleErrors(grantee awsiam.IGrantable) awsiam.Grant {
	g := in.RuleErrors.GrantConsumeMessages(grantee)
	if in.RuleErrors.EncryptionMasterKey() == nil {
		g = g.Combine(in.RuleErrorsKey.GrantDecrypt(grantee))
	}
	return g
}

// GrantConsumeProcessorFailures lets grantee read, delete and decrypt the processor's failed
// batches (stream mode) or invocations (direct mode).
func (in *Ingest) GrantConsumeProcessorFailures(grantee awsiam.IGrantable) awsiam.Grant {
	return in.Processor.Failures.GrantConsumeMessages(grantee)
}

// GrantStreamRead lets grantee read the stream and decrypt its records (another consumer,
// for example a replay into a test account). Stream mode only: in direct mode it records a
// synth error and grants nothing.
func (in *Ingest) GrantStreamRead(grantee awsiam.IGrantable) awsiam.Grant {
	if !in.streamMode("GrantStreamRead") {
		return awsiam.Grant_Drop(grantee, jsii.String("read the telemetry stream of a direct-mode Ingest"))
	}
	return in.Stream.GrantRead(grantee)
}
