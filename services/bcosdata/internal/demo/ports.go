package demo

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// splitPort returns the host and numeric port of addr.
func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("parse address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("parse port of %q: %w", addr, err)
	}
	return host, port, nil
}

// listener is one address the demo listens on and the flag that sets it.
type listener struct{ flag, addr string }

// listeners returns every fixed address the demo will listen on (port 0 and empty addresses,
// which cannot clash, are left out).
func (c Config) listeners() []listener {
	all := []listener{
		{"kafka.addr", c.KafkaAddr}, {"rpc.addr", c.RPCAddr}, {"binlog.addr", c.BinlogAddr},
		{"grpc.addr", c.Server.GRPCAddr}, {"admin.addr", c.Server.AdminAddr},
		{"stash.http.addr", c.StashHTTP}, {"export.http.addr", c.ExportHTTP}, {"reconcile.http.addr", c.ReconcileHTTP},
	}
	if c.PGPort != 0 {
		all = append(all, listener{"pg.port", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.PGPort))})
	}
	var out []listener
	for _, l := range all {
		if _, port, err := splitPort(l.addr); err == nil && port != 0 {
			out = append(out, l)
		}
	}
	return out
}

// PortInUseError is a port the demo needs that something else holds, with the flag that
// moves it.
type PortInUseError struct {
	Port int
	Flag string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d is in use: move it with -%s", e.Port, e.Flag)
}

// checkPorts tries each fixed address before anything starts, so that a taken port is
// reported with the flag that moves it rather than as a bind error deep inside one part.
func (c Config) checkPorts() error {
	var errs []error
	for _, l := range c.listeners() {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			_, port, _ := splitPort(l.addr)
			if errors.Is(err, syscall.EADDRINUSE) {
				errs = append(errs, &PortInUseError{Port: port, Flag: l.flag})
			} else {
				errs = append(errs, fmt.Errorf("-%s %s: %w", l.flag, l.addr, err))
			}
			continue
		}
		_ = ln.Close()
	}
	return errors.Join(errs...)
}
