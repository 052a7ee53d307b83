package control

import (
	"errors"
	"fmt"
)

// ErrNodeName is a node name that is not a plain name: the node's files
// (NAME.sock, NAME.log, its banks) are named after it in the pair's
// directory, so it must not name a path.
var ErrNodeName = errors.New("control: bad node name")

// MaxNodeNameLen bounds a node name (a socket path has about 100 bytes).
const MaxNodeNameLen = 32

// CheckNodeName refuses a node name that is not 1 to MaxNodeNameLen
// letters, digits, '-' or '_', starting with a letter or digit: such a
// name keeps every file named after it inside the pair's directory.
func CheckNodeName(name string) error {
	if name == "" || len(name) > MaxNodeNameLen {
		return fmt.Errorf("%w %q: 1 to %d characters", ErrNodeName, name, MaxNodeNameLen)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_')
		if !ok {
			return fmt.Errorf("%w %q: letters, digits, '-' and '_' only, starting with a letter or digit", ErrNodeName, name)
		}
	}
	return nil
}
