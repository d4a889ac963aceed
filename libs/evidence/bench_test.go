package evidence_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/bcosdata/bcosdata/libs/evidence"
	"github.com/bcosdata/bcosdata/libs/evidence/ceiling"
	"github.com/bcosdata/bcosdata/libs/fisco/cryptosuite"
)

// fsyncDirEnv names the directory BenchmarkCeilings fsyncs in; put it on the disk the
// service's PostgreSQL uses. Default: the system temp directory.
const fsyncDirEnv = "BCOSDATA_BENCH_FSYNC_DIR"

// BenchmarkCeilings measures, in one run, the raw rates the evidence service's accept and
// anchor figures are read against: record signature verification (ECDSA secp256k1 and SM2; one
// goroutine, and one per core) and write+fsync of a 1 KiB record. Each iteration is the whole
// measurement, so `make bench` (-benchtime 1x) reports meaningful figures.
func BenchmarkCeilings(b *testing.B) {
	dir := os.Getenv(fsyncDirEnv)
	if dir == "" {
		dir = os.TempDir()
	}
	type suiteRecs struct {
		name string
		s    *cryptosuite.Suite
		recs []evidence.Record
		pub  cryptosuite.PublicKey
	}
	var suites []suiteRecs
	for _, c := range []struct {
		name string
		s    *cryptosuite.Suite
		n    int
	}{{"ecdsa", cryptosuite.ECDSA(), 4000}, {"sm2", cryptosuite.SM(), 2000}} {
		recs, pub, err := ceiling.SignedRecords(c.s, c.n)
		if err != nil {
			b.Fatal(err)
		}
		suites = append(suites, suiteRecs{c.name, c.s, recs, pub})
	}
	cores := runtime.GOMAXPROCS(0)
	b.ResetTimer()
	for b.Loop() {
		for _, su := range suites {
			one, err := ceiling.VerifyRate(su.s, su.pub, su.recs, 1)
			if err != nil {
				b.Fatal(err)
			}
			all, err := ceiling.VerifyRate(su.s, su.pub, su.recs, cores)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(one, su.name+"-verify/s")
			b.ReportMetric(all, su.name+"-verify-all-cores/s")
		}
		fs, err := ceiling.FsyncRate(dir, 300, 1024)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(fs, "fsync-1KiB/s")
	}
	b.Logf("verification over %d cores; fsync in %s", cores, dir)
}
