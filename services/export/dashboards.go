package export

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bcosdata/bcosdata/libs/app"
	"github.com/bcosdata/bcosdata/services/export/internal/contract"
	"github.com/bcosdata/bcosdata/services/export/internal/dashboard"
	"github.com/bcosdata/bcosdata/services/export/internal/store"
)

// DashboardsUsage is the synopsis of the dashboards subcommand.
const DashboardsUsage = "export dashboards -contracts FILE -out DIR"

// Dashboards runs `export dashboards`: it writes Grafana provisioning for export into -out —
// provisioning/datasources/bcosdata.yaml (PostgreSQL and Prometheus, addresses and
// credentials from BCOSDATA_* environment variables), provisioning/dashboards/bcosdata.yaml
// (the provider) and dashboards/*.json (chain overview, pipeline health, one dashboard per
// contract of -contracts). Running it again on the same file gives the same bytes.
func Dashboards(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export dashboards", flag.ContinueOnError)
	fs.SetOutput(stderr)
	contracts := fs.String("contracts", "", "contracts file (as export's -contracts); empty: chain and pipeline dashboards only")
	out := fs.String("out", "", "output directory (created); generated files there are overwritten")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nWrites Grafana provisioning (datasources, dashboard provider, dashboards) for export.\n\n", DashboardsUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &app.UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return &app.UsageError{Err: fmt.Errorf("export dashboards: unexpected argument %q", fs.Arg(0))}
	}
	if *out == "" {
		return &app.UsageError{Err: errors.New("export dashboards: -out: missing output directory")}
	}
	var reg *contract.Registry
	if *contracts != "" {
		// Table and column names do not depend on the crypto suite.
		r, err := contract.Load(*contracts, contract.Keccak, contract.WithReservedTables(store.Tables...))
		if err != nil {
			return fmt.Errorf("-contracts: %w", err)
		}
		reg = r
	}
	files, err := dashboard.Files(reg)
	if err != nil {
		return err
	}
	if err := dashboard.Write(*out, files); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d files to %s\n", len(files), *out)
	return nil
}
