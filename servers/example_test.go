package servers_test

import (
	"fmt"

	"github.com/ftm-in-go/ftm/servers"
)

// A state type a checkpoint would not keep whole is refused when the
// server is built, naming the type and the field.
func ExampleNewServer_lossyState() {
	type Account struct {
		Owner   string
		balance int64
	}
	_, err := servers.NewServer(servers.Config{Name: "bank"}, func() Account { return Account{Owner: "ann"} })
	fmt.Println(err)
	// Output: servers: state type servers_test.Account: field balance is unexported and would be lost at every checkpoint
}
