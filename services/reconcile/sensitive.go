package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// sealerTTL is how long the sensitive parameters read from the jobs are used before the jobs
// are read again (a job change over the API also drops them at once).
const sealerTTL = 5 * time.Second

// paramSealer encrypts, before ingest stores a record, the decoded parameters that some job
// marks sensitive for that record's contract and event or method: the records table never
// holds them in clear. Records stored before a job marked a parameter keep it as it was.
type paramSealer struct {
	kr   *fieldcrypt.Keyring
	jobs func(ctx context.Context) ([]*job.Job, error)

	mu  sync.Mutex
	at  time.Time
	set map[selector][]string // parameter names
}

type selector struct{ kind, contract, name string }

func (p *paramSealer) invalidate() {
	p.mu.Lock()
	p.set = nil
	p.mu.Unlock()
}

func (p *paramSealer) sensitive(ctx context.Context) (map[selector][]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.set != nil && time.Since(p.at) < sealerTTL {
		return p.set, nil
	}
	jobs, err := p.jobs(ctx)
	if err != nil {
		return nil, err
	}
	set := map[selector][]string{}
	for _, j := range jobs {
		kind, name := "event", j.Chain.Event
		if j.Chain.Method != "" {
			kind, name = "call", j.Chain.Method
		}
		sel := selector{kind, j.Chain.Contract, name}
		for _, m := range j.Key {
			if m.Sensitive {
				set[sel] = append(set[sel], m.Chain)
			}
		}
		for _, f := range j.Fields {
			if f.Sensitive {
				set[sel] = append(set[sel], f.Chain)
			}
		}
	}
	p.set, p.at = set, time.Now()
	return set, nil
}

// Seal is ingest's Config.Seal.
func (p *paramSealer) Seal(ctx context.Context, recs []store.Record) error {
	set, err := p.sensitive(ctx)
	if err != nil || len(set) == 0 {
		return err
	}
	for i := range recs {
		r := &recs[i]
		for _, name := range []string{r.Name, r.Signature} {
			for _, param := range set[selector{r.Kind, r.ContractName, name}] {
				if v, ok := r.Params[param]; ok && !fieldcrypt.IsSealed(v) {
					r.Params[param] = p.kr.Seal(v)
				}
			}
		}
	}
	return nil
}
