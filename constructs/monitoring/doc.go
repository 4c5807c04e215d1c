// Package monitoring builds the platform's alarms from CDK metrics and resources, each with an
// action on the alert topic, a deliberate missing-data treatment and a name and description
// that tell the on-call engineer what broke and where to look, and the Smart City Control
// Center dashboard that shows the figures and the alarms' states.
//
// The alarm builders (FunctionAlarms, QueueAlarm, TableAlarm, StreamAlarms, RuleAlarms,
// BrokerAlarms, RatioAlarm, ThresholdAlarm) are plain functions: they create alarms as children
// of the scope they are given and return them, and keep no state. Their construct ids (and so
// the alarms' logical ids) are the builder's ids under that scope, so give a family of alarms a
// plain construct of its own (constructs.NewConstruct(stack, "Alarms")) and keep it. Every alarm
// is named prefix-<name> (alarm names are unique per account and region, so the prefix names
// the stage, for example "SmartCity-dev") and notifies the action when it fires and when it
// recovers. Problems are reported at synth with the scope's path; the alarms are built all the
// same. The dashboard (NewControlCenter) takes every section explicitly, the alarm list
// included.
package monitoring
