package fiscosim_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/services/fiscosim"
	"github.com/bcosdata/bcosdata/services/fiscosim/simtest"
)

// TestStopsWithARequestInFlight checks that a client in the middle of a request (here one that
// sent half its body and went quiet) does not make Run fail or hang when the simulator stops.
func TestStopsWithARequestInFlight(t *testing.T) {
	t.Parallel()
	sim, err := fiscosim.New(simtest.Config(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	if err := sim.WaitBlock(t.Context(), 1); err != nil {
		t.Fatalf("no block produced: %v", err)
	}
	u, err := url.Parse(sim.RPCURL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A whole request and its response first, so the server has taken the connection...
	const body = `{"jsonrpc":"2.0","method":"getBlockNumber","params":[1],"id":1}`
	if _, err := fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// ...then one it is left reading: headers and half the body.
	if _, err := fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body[:10]); err != nil {
		t.Fatal(err)
	}
	// Another client's answer gives the server time to start on it.
	other, err := http.Post(sim.RPCURL(), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	other.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run with a request in flight at shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of being stopped")
	}
}
