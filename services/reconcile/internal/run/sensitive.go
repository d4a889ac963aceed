package run

import (
	"errors"
	"fmt"

	"github.com/bcosdata/bcosdata/libs/crypto/fieldcrypt"
	"github.com/bcosdata/bcosdata/libs/fault"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/format"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/job"
	"github.com/bcosdata/bcosdata/services/reconcile/internal/store"
)

// ErrNoKeys means a job marks fields sensitive but the service has no key ring.
var ErrNoKeys = errors.New("the job marks fields sensitive but no key ring is configured (-crypto.keys)")

// The helpers below are the whole of personal-data protection in a run: rows are sealed
// between being computed and being stored, so loading, projection and matching stay as they
// are. A sensitive value's canonical text becomes its keyed hash (equal values still match,
// in SQL, by plain equality) and its raw text a sealed one (what result diffs show).

// checkKeys fails a run of a job with sensitive fields when there is no key ring.
func checkKeys(kr *fieldcrypt.Keyring, j *job.Job) error {
	if kr == nil && j.Sensitive() {
		return fault.MarkPermanent(fmt.Errorf("job %s: %w", j.Name, ErrNoKeys))
	}
	return nil
}

// sealValues protects the sensitive keys and fields of one business row or chain row.
func sealValues(kr *fieldcrypt.Keyring, j *job.Job, keys []string, fields []*string, raw []string) {
	if kr == nil {
		return
	}
	for i, m := range j.Key {
		if m.Sensitive && i < len(keys) {
			keys[i] = kr.Blind(keys[i])
		}
	}
	for i, f := range j.Fields {
		if !f.Sensitive {
			continue
		}
		if i < len(fields) && fields[i] != nil {
			b := kr.Blind(*fields[i])
			fields[i] = &b
		}
		if i < len(raw) && raw[i] != "" {
			raw[i] = kr.Seal(raw[i])
		}
	}
}

// sealBusiness protects a business row; a malformed row's error that names a sensitive
// column loses its reason, which may quote the value.
func sealBusiness(kr *fieldcrypt.Keyring, j *job.Job, row *store.BusinessRow, rowErr error) {
	if re, ok := errors.AsType[*format.RowError](rowErr); ok && row.Error != "" && sensitiveColumn(j, re.Field) {
		redacted := *re
		redacted.Reason = "value unreadable (sensitive column: reason withheld)"
		row.Error = redacted.Error()
	}
	sealValues(kr, j, row.Keys, row.Fields, row.Raw)
}

func sensitiveColumn(j *job.Job, column string) bool {
	if column == "" {
		return false
	}
	for _, m := range j.Key {
		if m.Sensitive && m.Business == column {
			return true
		}
	}
	for _, f := range j.Fields {
		if f.Sensitive && f.Business == column {
			return true
		}
	}
	return false
}

// OpenValues decrypts, in place, the values ingest sealed (record parameters, or the chain
// fields Records returns).
func OpenValues(kr *fieldcrypt.Keyring, values map[string]string) error {
	return openParams(kr, values)
}

// openParams decrypts the record parameters ingest sealed, in place.
func openParams(kr *fieldcrypt.Keyring, params map[string]string) error {
	for name, v := range params {
		if !fieldcrypt.IsSealed(v) {
			continue
		}
		if kr == nil {
			return fmt.Errorf("parameter %s is sealed and no key ring is configured (-crypto.keys)", name)
		}
		pt, err := kr.Open(v)
		if err != nil {
			return fmt.Errorf("parameter %s: %w", name, err)
		}
		params[name] = pt
	}
	return nil
}
