// Command teller calls the bank server of a pair from outside it:
//
//	teller deposit ACCOUNT CENTS
//	teller withdraw ACCOUNT CENTS
//	teller balance ACCOUNT
//
// It calls BANK/bank (-bank, alpha by default) on the pair whose
// directory is DIR (-dir, .ftm by default) through package client, with
// the operations package bank declares, and prints the account's balance
// after the call. The call is an external client's: an update is answered
// only once it is committed, so what teller prints is durable. A refusal
// the bank declared is one line and exit status 2; any other failure,
// exit status 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"

	"github.com/ftm-in-go/ftm/client"

	"example.com/bank/bank"
)

func main() {
	dir := flag.String("dir", ".ftm", "the pair's directory")
	on := flag.String("bank", "alpha", "the STM bank whose bank server to call")
	flag.Parse()
	if err := run(*dir, *on+"/"+bank.Name, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "teller:", err)
		if errors.Is(err, bank.ErrAmount) || errors.Is(err, bank.ErrInsufficient) {
			os.Exit(2) // the bank said no: nothing changed
		}
		os.Exit(1)
	}
}

func run(dir, server string, args []string) error {
	cmd, err := parse(args)
	if err != nil {
		return err
	}
	c, err := client.DialPair(dir)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cents, err := cmd.call(ctx, c, server)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d cents (%s)\n", cmd.move.Account, cents, server)
	return nil
}

// command is what a command line asks for: an operation and its request.
type command struct {
	op   string    // deposit, withdraw or balance
	move bank.Move // the account, and the cents of a deposit or withdrawal
}

func parse(args []string) (command, error) {
	switch {
	case len(args) == 2 && args[0] == "balance":
		return command{op: args[0], move: bank.Move{Account: args[1]}}, nil
	case len(args) == 3 && (args[0] == "deposit" || args[0] == "withdraw"):
		cents, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil {
			return command{}, fmt.Errorf("%q is not a number of cents", args[2])
		}
		return command{op: args[0], move: bank.Move{Account: args[1], Cents: cents}}, nil
	}
	return command{}, errors.New("usage: teller deposit|withdraw ACCOUNT CENTS, or teller balance ACCOUNT")
}

// call makes the command's call of the bank server and returns the
// account's balance after it.
func (cmd command) call(ctx context.Context, c *client.Conn, server string) (int64, error) {
	switch cmd.op {
	case "deposit":
		return client.Call(ctx, c, bank.Deposit.At(server), cmd.move)
	case "withdraw":
		return client.Call(ctx, c, bank.Withdraw.At(server), cmd.move)
	}
	return client.Call(ctx, c, bank.Balance.At(server), cmd.move.Account)
}
