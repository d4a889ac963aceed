package deploy

import (
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// scanned are the files whose ports, topics, metrics and variables must be real: every file
// under deploy/ but the tests, the compose file and the operations guide.
func scanned(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".go"), path == "go.mod", path == "go.sum":
			return nil
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{composeFile, "../docs/operations.md"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

var (
	topicRef  = regexp.MustCompile(`\bbcos\.[a-z0-9_-]+\.group[0-9]+\.[a-z.]+?\.v1(\.dlq)?\b`)
	metricRef = regexp.MustCompile(`\bbcosdata_(stash|export|reconcile|kafka_consumer|kafka_producer)_[a-z0-9_]+\b`)
	envRef    = regexp.MustCompile(`\b(STASH|EXPORT|RECONCILE|FISCOSIM)_[A-Z0-9_]+\b`)
	portRef   = regexp.MustCompile(`\b(9[123]0[0-9]|854[0-9])\b`)
)

// servicePorts are the default listen ports of every binary, from their flag sets.
func servicePorts(t *testing.T) map[string]string {
	t.Helper()
	ports := map[string]string{}
	for _, b := range binaries {
		b.flags().VisitAll(func(f *flag.Flag) {
			if !strings.HasSuffix(f.Name, ".addr") || f.DefValue == "" {
				return
			}
			_, port, err := net.SplitHostPort(f.DefValue)
			if err != nil {
				t.Fatalf("%s -%s default %q: %v", b.name, f.Name, f.DefValue, err)
			}
			ports[port] = b.name + " -" + f.Name
		})
	}
	return ports
}

// TestDeployFilesNameRealThings checks every topic, metric, environment variable and service
// port the deployment files and the operations guide name.
func TestDeployFilesNameRealThings(t *testing.T) {
	f := runtimeFacts(t)
	ports := servicePorts(t)
	for path, text := range scanned(t) {
		for _, line := range strings.Split(text, "\n") {
			for _, err := range checkLine(line, f, ports) {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
}

func checkLine(line string, f facts, ports map[string]string) []error {
	var errs []error
	for _, tp := range topicRef.FindAllString(line, -1) {
		if f.topics[tp] == 0 {
			errs = append(errs, fmt.Errorf("topic %s: no service creates it (they create %s)", tp, keys(f.topics)))
		}
	}
	for _, m := range metricRef.FindAllString(line, -1) {
		if !f.metrics[m] {
			errs = append(errs, fmt.Errorf("metric %s: no service registers it", m))
		}
	}
	for _, env := range envRef.FindAllString(line, -1) {
		b, _ := binaryForEnv(env)
		if err := b.checkEnv(env, ""); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range portRef.FindAllString(line, -1) {
		if _, ok := ports[p]; !ok {
			errs = append(errs, fmt.Errorf("port %s: no binary listens there by default", p))
		}
	}
	return errs
}

// TestFileCheckCatchesMistakes feeds the line check names that do not exist.
func TestFileCheckCatchesMistakes(t *testing.T) {
	f := runtimeFacts(t)
	ports := servicePorts(t)
	for _, line := range []string{
		"consume bcos.chain0.group1.block.v1",
		"alert on bcosdata_export_lag",
		"set EXPORT_KAFKA_BROKER",
		"scrape :9204",
		"alert on bcosdata_reconcile_run_failures_total",
		"consume bcos.chain0.group1.reconcile.result.v1",
	} {
		if errs := checkLine(line, f, ports); len(errs) == 0 {
			t.Errorf("%q passed", line)
		}
	}
	if errs := checkLine("STASH_SOURCE_CACHE_DIR, bcosdata_stash_source_lag_blocks on :9201, bcos.chain0.group1.events.v1", f, ports); len(errs) > 0 {
		t.Errorf("good line: %v", errs)
	}
	if errs := checkLine("RECONCILE_PARTITIONS, bcosdata_reconcile_runs_total and bcosdata_reconcile_outbox_backlog on :9203, bcos.chain0.group1.reconcile.results.v1", f, ports); len(errs) > 0 {
		t.Errorf("good line: %v", errs)
	}
}

// TestTopicInitMatchesServices checks that compose's topic-init creates every topic the services
// create, with the partition counts the services are given.
func TestTopicInitMatchesServices(t *testing.T) {
	f := runtimeFacts(t)
	content, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadCompose(t, content)
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Join(p.Services["topic-init"].Command, " ")
	created := map[string]int{}
	for _, m := range regexp.MustCompile(`--topic (\S+) --partitions (\d+)`).FindAllStringSubmatch(script, -1) {
		n, _ := strconv.Atoi(m[2])
		created[m[1]] = n
	}
	partitions := func(service, env string) int {
		v := p.Services[service].Environment[env]
		if v == nil {
			t.Fatalf("%s sets no %s", service, env)
		}
		n, err := strconv.Atoi(*v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	want := map[string]int{
		"bcos.chain0.group1.blocks.v1": partitions("stash", "STASH_PARTITIONS"),
		"bcos.chain0.group1.state.v1":  partitions("stash", "STASH_PARTITIONS"),
		"bcos.chain0.group1.events.v1": partitions("export", "EXPORT_PARTITIONS"),
		"bcos.chain0.group1.calls.v1":  partitions("export", "EXPORT_PARTITIONS"),

		"bcos.chain0.group1.reconcile.results.v1": partitions("reconcile", "RECONCILE_PARTITIONS"),
	}
	for tp := range f.topics {
		if _, ok := want[tp]; !ok && !strings.HasPrefix(tp, "__") {
			t.Errorf("services create %s, which topic-init does not", tp)
		}
	}
	for tp, n := range want {
		if f.topics[tp] == 0 {
			t.Errorf("%s: no service creates it", tp)
		}
		if created[tp] != n {
			t.Errorf("topic-init creates %s with %d partitions, the service is given %d", tp, created[tp], n)
		}
	}
}

func keys[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
