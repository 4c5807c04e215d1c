package fleetspec

// index maps ids and names to positions. The sizes record what it was built from: a fleet
// changed in code after loading falls back to a scan rather than trusting stale positions.
type index struct {
	classes, districts, things int
	classByID                  map[string]int
	districtByID               map[string]int
	thingByName                map[string]int
	thingsByClass              map[string][]int
}

func newIndex(f *Fleet) *index {
	x := &index{
		classes:       len(f.Classes),
		districts:     len(f.Districts),
		things:        len(f.Things),
		classByID:     make(map[string]int, len(f.Classes)),
		districtByID:  make(map[string]int, len(f.Districts)),
		thingByName:   make(map[string]int, len(f.Things)),
		thingsByClass: make(map[string][]int, len(f.Classes)),
	}
	for i, c := range f.Classes {
		x.classByID[c.ID] = i
	}
	for i, d := range f.Districts {
		x.districtByID[d.ID] = i
	}
	for i, t := range f.Things {
		x.thingByName[t.Name] = i
		x.thingsByClass[t.Class] = append(x.thingsByClass[t.Class], i)
	}
	return x
}

// find looks key up through the index when it still describes items, else scans.
func find[T any](items []T, byKey map[string]int, fresh bool, key string, keyOf func(T) string) (T, bool) {
	if fresh {
		if i, ok := byKey[key]; ok && i < len(items) && keyOf(items[i]) == key {
			return items[i], true
		}
		var zero T
		return zero, false
	}
	for _, it := range items {
		if keyOf(it) == key {
			return it, true
		}
	}
	var zero T
	return zero, false
}

// Class returns the device class with the given id.
func (f *Fleet) Class(id string) (DeviceClass, bool) {
	fresh := f.idx != nil && f.idx.classes == len(f.Classes)
	var m map[string]int
	if fresh {
		m = f.idx.classByID
	}
	return find(f.Classes, m, fresh, id, func(c DeviceClass) string { return c.ID })
}

// District returns the district with the given id.
func (f *Fleet) District(id string) (District, bool) {
	fresh := f.idx != nil && f.idx.districts == len(f.Districts)
	var m map[string]int
	if fresh {
		m = f.idx.districtByID
	}
	return find(f.Districts, m, fresh, id, func(d District) string { return d.ID })
}

// Thing returns the declared thing with the given name. For the CDK side only: the runtime
// copy has no things, and a device provisioned at run time is in no fleet file.
func (f *Fleet) Thing(name string) (Thing, bool) {
	fresh := f.idx != nil && f.idx.things == len(f.Things)
	var m map[string]int
	if fresh {
		m = f.idx.thingByName
	}
	return find(f.Things, m, fresh, name, func(t Thing) string { return t.Name })
}

// ThingsOf returns the declared things of a device class in file order, as a new slice the
// caller may change. For the CDK side only, like Thing.
func (f *Fleet) ThingsOf(classID string) []Thing {
	var out []Thing
	if f.idx != nil && f.idx.things == len(f.Things) {
		for _, i := range f.idx.thingsByClass[classID] {
			if f.Things[i].Class == classID {
				out = append(out, f.Things[i])
			}
		}
		return out
	}
	for _, t := range f.Things {
		if t.Class == classID {
			out = append(out, t)
		}
	}
	return out
}
