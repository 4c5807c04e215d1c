package fleetspec

// Problem is one thing wrong with a fleet, located by file and field path so that a person can
// fix the file without reading code. Validate returns every problem at once, joined.
type Problem struct {
	// File is the fleet file's path, "fleet" for a fleet built in code or "runtime fleet" for
	// the copy Lambdas read.
	File string
	// Path is the field path, for example "things[3].class"; empty for the file as a whole.
	Path    string
	Message string
}

func (p *Problem) Error() string {
	if p.Path == "" {
		return p.File + ": " + p.Message
	}
	return p.File + ": " + p.Path + ": " + p.Message
}
