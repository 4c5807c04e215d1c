// Package monitoring builds the platform's alarms from its constructs' own metric methods, each
// with an action on the alert topic, a deliberate missing-data treatment and a name and
// description that tell the on-call engineer what broke and where to look, and the Smart City
// Control Center dashboard that shows the figures and the alarms' states.
package monitoring
