package control

import "fmt"

// Cluster reports whether st is a cluster of more than two nodes (each
// bank's backup placed by the group) rather than a pair.
func (st *PairState) Cluster() bool { return len(st.Nodes) > 2 }

// Peers returns every node of st but name.
func (st *PairState) Peers(name string) []NodeState {
	var out []NodeState
	for _, n := range st.Nodes {
		if n.Name != name {
			out = append(out, n)
		}
	}
	return out
}

// AllWitnesses returns the witness and the further witnesses.
func (st *PairState) AllWitnesses() []*NodeState {
	var out []*NodeState
	if st.Witness != nil {
		out = append(out, st.Witness)
	}
	for i := range st.Witnesses {
		out = append(out, &st.Witnesses[i])
	}
	return out
}

// WitnessNamed returns the witness called name ("": the first).
func (st *PairState) WitnessNamed(name string) (*NodeState, error) {
	for _, w := range st.AllWitnesses() {
		if name == "" || w.Name == name {
			return w, nil
		}
	}
	return nil, fmt.Errorf("no witness %q in the pair", name)
}
