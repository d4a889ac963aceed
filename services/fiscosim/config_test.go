package fiscosim_test

import (
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/fiscosim"
)

// TestFlagsAndEnvironment checks defaults, FISCOSIM_* variables and flags over them.
func TestFlagsAndEnvironment(t *testing.T) {
	t.Setenv("FISCOSIM_RPC_ADDR", "127.0.0.1:9999")
	t.Setenv("FISCOSIM_SM", "true")
	t.Setenv("FISCOSIM_FAULT_CORRUPT_CRC", "3,5")
	var cfg fiscosim.Config
	fs := flag.NewFlagSet("fiscosim", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := app.ParseFlags(fs, fiscosim.EnvPrefix, []string{"-block-interval", "250ms", "-sm=false", "-fault.restart-at", "7"}); err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.RPCAddr != "127.0.0.1:9999":
		t.Errorf("rpc.addr %q from the environment", cfg.RPCAddr)
	case cfg.SM:
		t.Error("-sm=false did not win over FISCOSIM_SM")
	case cfg.BlockInterval != 250*time.Millisecond:
		t.Errorf("block-interval %s", cfg.BlockInterval)
	case cfg.BinlogAddr != "127.0.0.1:8546" || cfg.Sealers != 4 || cfg.SupportedVersion != "2.9.0":
		t.Errorf("defaults %q %d %q", cfg.BinlogAddr, cfg.Sealers, cfg.SupportedVersion)
	case cfg.Faults.CorruptCRC.String() != "3,5" || cfg.Faults.RestartAt.String() != "7":
		t.Errorf("faults %v %v", cfg.Faults.CorruptCRC, cfg.Faults.RestartAt)
	}
}

// TestRejectsBadConfig checks that unusable settings name the flag.
func TestRejectsBadConfig(t *testing.T) {
	for name, mut := range map[string]func(*fiscosim.Config){
		"version":  func(c *fiscosim.Config) { c.SupportedVersion = "2.0.0-rc3" },
		"clock":    func(c *fiscosim.Config) { c.Clock = "lunar" },
		"sealers":  func(c *fiscosim.Config) { c.Sealers = 0 },
		"format":   func(c *fiscosim.Config) { c.BinlogFormat = "auto" },
		"truncate": func(c *fiscosim.Config) { c.Faults.TruncateTail = true },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			mut(&cfg)
			if _, err := fiscosim.New(cfg, nil); !errors.Is(err, fiscosim.ErrConfig) {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

// TestRunCommandHelp checks the command entry point's -h.
func TestRunCommandHelp(t *testing.T) {
	if err := fiscosim.RunCommand(t.Context(), "fiscosim", []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	var ue *app.UsageError
	if err := fiscosim.RunCommand(t.Context(), "fiscosim", []string{"-nope"}, io.Discard); !errors.As(err, &ue) {
		t.Fatalf("unknown flag: %v", err)
	}
}

// TestBusyPortWritesNothing checks that a node that cannot listen leaves no chain behind.
func TestBusyPortWritesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t)
	cfg.BinlogAddr = ln.Addr().String()
	if _, err := fiscosim.New(cfg, nil); err == nil {
		t.Fatal("New succeeded on a busy port")
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, "group1")); !os.IsNotExist(err) {
		t.Fatalf("data written despite the failure: %v", err)
	}
}
