package job

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/bcosdata/bcosdata/services/reconcile/internal/compare"
)

// DateLayout is the layout of business dates (YYYY-MM-DD).
const DateLayout = "2006-01-02"

// Target is what a run of a job for one business date works on.
type Target struct {
	// Date is the business date, YYYY-MM-DD.
	Date string
	// Name is the business file name (the expanded pattern).
	Name string
	// URI is the business file: Source joined with Name.
	URI string
	// Start and End bound the on-chain block time: [Date 00:00 in the zone, next day 00:00 +
	// grace). StartMs and EndMs are the same in Unix milliseconds, as block_timestamp_ms is.
	Start, End     time.Time
	StartMs, EndMs int64
}

// Resolve turns a business date (YYYY-MM-DD, in the job's zone) into the file to fetch and
// the on-chain window. The job must have passed Validate.
func (j *Job) Resolve(date string) (Target, error) {
	loc := j.location()
	day, err := time.ParseInLocation(DateLayout, date, loc)
	if err != nil {
		return Target{}, fmt.Errorf("job %q: business date %q: want YYYY-MM-DD", j.Name, date)
	}
	name, err := expand(j.Pattern, day)
	if err != nil {
		return Target{}, fmt.Errorf("job %q: pattern: %w", j.Name, err)
	}
	uri, err := JoinURI(j.Source, name)
	if err != nil {
		return Target{}, fmt.Errorf("job %q: source: %w", j.Name, err)
	}
	end := day.AddDate(0, 0, 1).Add(j.Window.Grace)
	return Target{Date: date, Name: name, URI: uri, Start: day, End: end, StartMs: day.UnixMilli(), EndMs: end.UnixMilli()}, nil
}

// BusinessDate is the business date a scheduled run at fire reconciles: the fire time's date
// in the job's zone, DaysBack days earlier.
func (j *Job) BusinessDate(fire time.Time) string {
	back := DefaultDaysBack
	if j.DaysBack != nil {
		back = *j.DaysBack
	}
	t := fire.In(j.location())
	return time.Date(t.Year(), t.Month(), t.Day()-back, 0, 0, 0, 0, j.location()).Format(DateLayout)
}

func (j *Job) location() *time.Location {
	if j.loc != nil {
		return j.loc
	}
	if loc, err := time.LoadLocation(j.Window.Zone); err == nil && j.Window.Zone != "" {
		return loc
	}
	return time.UTC
}

// JoinURI appends a relative file name (which may have / in it) to a directory URI, escaping
// it as the URI needs.
func JoinURI(dir, name string) (string, error) {
	u, err := url.Parse(dir)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") {
		return "", fmt.Errorf("file name %q must stay under %s", name, dir)
	}
	return u.JoinPath(strings.Split(name, "/")...).String(), nil
}

// expand replaces each {pattern} in s with day formatted by that Java-style date pattern.
func expand(s string, day time.Time) (string, error) {
	var b strings.Builder
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return "", fmt.Errorf("%q: } without {", s)
			}
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:open])
		if strings.IndexByte(s[:open], '}') >= 0 {
			return "", fmt.Errorf("%q: } without {", s)
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: { without }", s)
		}
		layout, _, err := compare.ConvertLayout(s[open+1 : open+end])
		if err != nil {
			return "", fmt.Errorf("placeholder %s: %w", s[open:open+end+1], err)
		}
		b.WriteString(day.Format(layout))
		s = s[open+end+1:]
	}
}
