package fleetspec

import "strconv"

// Problem is one thing wrong with a fleet, located by file, line, column and field path so
// that a person can fix the file without reading code. Validate returns every problem at once,
// joined.
type Problem struct {
	// File is the fleet file's path, "fleet" for a fleet built in code or "runtime fleet" for
	// the copy Lambdas read.
	File string
	// Line and Column locate the value (or key) in the file, from 1; 0 when unknown (a fleet
	// built in code, or a problem with the file as a whole).
	Line, Column int
	// Path is the field path, for example "things[3].class"; empty for the file as a whole.
	Path    string
	Message string
}

// Error reads "file:line:column: path: message", the form editors and CI logs link to a
// position; the parts that are unknown are left out.
func (p *Problem) Error() string {
	at := p.File
	if p.Line > 0 {
		at += ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
	}
	if p.Path == "" {
		return at + ": " + p.Message
	}
	return at + ": " + p.Path + ": " + p.Message
}
