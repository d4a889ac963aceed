package stash

import (
	"github.com/bcosdata/bcosdata/libs/app"
)

// Command returns the stash process description, used by cmd/stash and `bcosdata stash`.
func Command() app.Command {
	cfg := &Config{}
	return app.Command{
		Name: "stash", EnvPrefix: EnvPrefix, HealthName: "bcosdata.stash.v1.StashService",
		Flags: cfg.RegisterFlags, Server: &cfg.Server, Log: &cfg.Log, DB: &cfg.DB,
		New: func(deps app.Deps, srv *app.Server) (app.Service, error) {
			svc, err := New(*cfg, deps)
			if err != nil {
				return nil, err
			}
			srv.AddCheck("stash", svc.Ready)
			return svc, nil
		},
	}
}
