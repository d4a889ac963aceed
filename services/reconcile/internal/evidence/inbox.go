package evidence

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	reconcilev1 "github.com/bcosdata/bcosdata/proto/bcosdata/reconcile/v1"
)

// ProcessedDir is the inbox subdirectory files are moved to once read, with a
// <name>.errors file beside a file that had bad lines.
const ProcessedDir = "processed"

// inboxChunk is how many lines are accepted in one transaction.
const inboxChunk = 1000

type fileSeen struct {
	size int64
	mod  time.Time
}

// scanInbox reads every *.jsonl file of the inbox that has not changed since the previous
// scan (so a file still being written is left alone; writing it elsewhere and renaming it in
// is better still), accepts its good lines, reports its bad ones, and moves it aside.
func (s *Service) scanInbox(ctx context.Context) error {
	entries, err := os.ReadDir(s.cfg.Inbox)
	if err != nil {
		return fmt.Errorf("read inbox %s: %w", s.cfg.Inbox, err)
	}
	seen := map[string]fileSeen{}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".jsonl") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		now := fileSeen{size: info.Size(), mod: info.ModTime()}
		seen[name] = now
		if prev, ok := s.inboxSeen[name]; !ok || prev != now {
			continue
		}
		if err := s.readInboxFile(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	s.inboxSeen = seen
	return errors.Join(errs...)
}

// readInboxFile accepts the records of one file; a bad line is reported with the file and
// line and does not hold up the others. A file read again after a crash accepts its records
// again without storing them twice (the same record under the same id is no reuse).
func (s *Service) readInboxFile(ctx context.Context, name string) error {
	path := filepath.Join(s.cfg.Inbox, name)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open inbox file %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4*s.cfg.MaxPayload+64<<10)
	var report []string
	var in []Incoming
	var lines []int
	accepted := 0
	flush := func() error {
		if len(in) == 0 {
			return nil
		}
		outs, errs := s.Accept(ctx, in)
		for i, err := range errs {
			var rej *Rejection
			switch {
			case err == nil:
				if !outs[i].Again {
					accepted++
				}
			case errors.As(err, &rej):
				report = append(report, fmt.Sprintf("%s:%d: %v", name, lines[i], err))
				s.log.Warn("inbox record refused", zap.String("file", path), zap.Int("line", lines[i]), zap.Error(err))
			default:
				return err // the database: the whole file is read again at the next scan
			}
		}
		in, lines = in[:0], lines[:0]
		return nil
	}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var p reconcilev1.EvidenceRecord
		if err := protojson.Unmarshal([]byte(text), &p); err != nil {
			s.metrics.Rejected.WithLabelValues(ReasonInvalid).Inc()
			report = append(report, fmt.Sprintf("%s:%d: %s: %v", name, line, ReasonInvalid, err))
			s.log.Warn("inbox line unreadable", zap.String("file", path), zap.Int("line", line), zap.Error(err))
			continue
		}
		rec, err := RecordFromProto(&p)
		if err != nil {
			s.metrics.Rejected.WithLabelValues(ReasonInvalid).Inc()
			report = append(report, fmt.Sprintf("%s:%d: %v", name, line, err))
			continue
		}
		in = append(in, Incoming{Record: rec, Source: "inbox"})
		lines = append(lines, line)
		if len(in) == inboxChunk {
			if err := flush(); err != nil {
				return fmt.Errorf("inbox file %s: %w", path, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		report = append(report, fmt.Sprintf("%s:%d: %v (the rest of the file was not read)", name, line+1, err))
	}
	if err := flush(); err != nil {
		return fmt.Errorf("inbox file %s: %w", path, err)
	}
	f.Close()
	done := filepath.Join(s.cfg.Inbox, ProcessedDir)
	if err := os.MkdirAll(done, 0o750); err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	dest := filepath.Join(done, name)
	if _, err := os.Stat(dest); err == nil {
		dest = filepath.Join(done, fmt.Sprintf("%s.%d", name, time.Now().UnixNano()))
	}
	if len(report) > 0 {
		if err := os.WriteFile(dest+".errors", []byte(strings.Join(report, "\n")+"\n"), 0o640); err != nil {
			return fmt.Errorf("inbox: write report: %w", err)
		}
	}
	if err := os.Rename(path, dest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("inbox: move %s aside: %w", path, err)
	}
	s.log.Info("inbox file read", zap.String("file", path), zap.Int("accepted", accepted), zap.Int("refused", len(report)))
	return nil
}
