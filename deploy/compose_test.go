package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "../docker-compose.yml"

// loadCompose loads a compose file the way `docker compose` does, with the given profiles and
// an empty environment (so ${VAR:-default} takes its default).
func loadCompose(t *testing.T, content []byte, profiles ...string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(t.Context(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml"), Content: content}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("bcosdata", true)
		o.Profiles = profiles
	})
}

// composeBinary returns the bcosdata binary a compose service runs: the Dockerfile target it
// builds.
func composeBinary(s types.ServiceConfig) (binary, bool) {
	if s.Build == nil || s.Build.Target == "" {
		return binary{}, false
	}
	b, ok := binaries[s.Build.Target]
	return b, ok
}

// checkComposeFile loads content with and without the demo profile and checks what it passes
// to the bcosdata binaries: variables, arguments, healthchecks and published ports.
func checkComposeFile(t *testing.T, content []byte) []error {
	t.Helper()
	var errs []error
	for _, profiles := range [][]string{nil, {"demo"}} {
		p, err := loadCompose(t, content, profiles...)
		if err != nil {
			return append(errs, fmt.Errorf("profiles %v: %w", profiles, err))
		}
		for name, s := range p.Services {
			errs = append(errs, checkComposeService(name, s)...)
		}
	}
	return errs
}

func checkComposeService(name string, s types.ServiceConfig) []error {
	var errs []error
	b, ok := composeBinary(s)
	if !ok {
		if s.Build != nil {
			errs = append(errs, fmt.Errorf("service %s: builds target %q, not one of the Dockerfile's binaries", name, s.Build.Target))
		}
		for env := range s.Environment {
			if _, ours := binaryForEnv(env); ours {
				errs = append(errs, fmt.Errorf("service %s: %s set on a container that runs no bcosdata binary", name, env))
			}
		}
		return errs
	}
	listen := map[uint32]bool{}
	envs := map[string]string{}
	for env, v := range s.Environment {
		value := ""
		if v != nil {
			value = *v
		}
		envs[env] = value
		if err := b.checkEnv(env, value); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
		}
		if strings.HasSuffix(env, "_ADDR") && value != "" {
			_, port, err := net.SplitHostPort(value)
			if n, perr := strconv.ParseUint(port, 10, 32); err == nil && perr == nil {
				listen[uint32(n)] = true
			}
		}
	}
	if err := b.checkServer(envs); err != nil {
		errs = append(errs, fmt.Errorf("service %s: %w", name, err))
	}
	if len(s.Entrypoint) > 0 {
		errs = append(errs, fmt.Errorf("service %s: overrides the image's entrypoint", name))
	}
	if err := b.checkArgs(s.Command); err != nil {
		errs = append(errs, fmt.Errorf("service %s command: %w", name, err))
	}
	if hc := s.HealthCheck; hc != nil && len(hc.Test) > 0 {
		if len(hc.Test) < 2 || hc.Test[0] != "CMD" || hc.Test[1] != "/usr/local/bin/"+b.name {
			errs = append(errs, fmt.Errorf("service %s healthcheck %q: want [CMD /usr/local/bin/%s -healthcheck] (no shell in a distroless image)", name, hc.Test, b.name))
		} else if err := b.checkArgs(hc.Test[2:]); err != nil {
			errs = append(errs, fmt.Errorf("service %s healthcheck: %w", name, err))
		}
	}
	for _, p := range s.Ports {
		if !listen[p.Target] {
			errs = append(errs, fmt.Errorf("service %s publishes port %d, where %s does not listen (its *_ADDR variables)", name, p.Target, b.name))
		}
	}
	return errs
}

func TestComposeFile(t *testing.T) {
	content, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkComposeFile(t, content) {
		t.Error(err)
	}
	p, err := loadCompose(t, content, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"postgres", "kafka", "topic-init", "fiscosim", "stash", "export", "reconcile", "prometheus", "grafana"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	plain, err := loadCompose(t, content)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plain.Services["fiscosim"]; ok {
		t.Error("fiscosim runs without the demo profile")
	}
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("service %s mounts %s: %v", name, v.Source, err)
				}
			}
		}
	}
	t.Run("kafka", func(t *testing.T) { checkComposeKafka(t, p) })
	t.Run("prometheus", func(t *testing.T) { checkPrometheusTargets(t, p) })
}

// checkComposeKafka checks what a new user found wrong: the log directory must be the mounted
// volume, and the host needs a listener advertised on localhost and published.
func checkComposeKafka(t *testing.T, p *types.Project) {
	k := p.Services["kafka"]
	env := func(k8 string) string {
		if v := k.Environment[k8]; v != nil {
			return *v
		}
		return ""
	}
	logDirs := env("KAFKA_LOG_DIRS")
	if logDirs == "" {
		t.Error("KAFKA_LOG_DIRS unset: the apache/kafka image then writes to /tmp/kraft-combined-logs, outside any volume")
	}
	mounted := false
	for _, v := range k.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == logDirs {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("no named volume mounted at KAFKA_LOG_DIRS %q: the log is lost with the container", logDirs)
	}
	host := regexp.MustCompile(`(\w+)://localhost:(\d+)`).FindStringSubmatch(env("KAFKA_ADVERTISED_LISTENERS"))
	if host == nil {
		t.Fatal("no listener advertised on localhost for the host")
	}
	published := false
	for _, pc := range k.Ports {
		if strconv.Itoa(int(pc.Target)) == host[2] && pc.Published == host[2] {
			published = true
		}
	}
	if !published {
		t.Errorf("listener %s advertised on localhost:%s but that port is not published as itself", host[1], host[2])
	}
	if !strings.Contains(env("KAFKA_LISTENERS"), host[1]+"://:"+host[2]) {
		t.Errorf("KAFKA_LISTENERS %q does not listen on %s://:%s", env("KAFKA_LISTENERS"), host[1], host[2])
	}
	if id := env("CLUSTER_ID"); len(id) != 22 {
		t.Errorf("CLUSTER_ID %q: Kafka wants 16 bytes in base64url (22 characters)", id)
	}
}

// checkPrometheusTargets checks that Prometheus scrapes each service on the admin port it
// listens on.
func checkPrometheusTargets(t *testing.T, p *types.Project) {
	cfg := loadPrometheusConfig(t)
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, target := range staticTargets(sc) {
			host, port, err := net.SplitHostPort(target)
			if err != nil {
				t.Errorf("job %s target %q: %v", sc.JobName, target, err)
				continue
			}
			s, ok := p.Services[host]
			b, isOurs := composeBinary(s)
			if !ok || !isOurs {
				t.Errorf("job %s scrapes %s, not a bcosdata service of the compose file", sc.JobName, target)
				continue
			}
			admin := ""
			if v := s.Environment[b.envPrefix+"_ADMIN_ADDR"]; v != nil {
				admin = *v
			}
			if !strings.HasSuffix(admin, ":"+port) {
				t.Errorf("job %s scrapes %s, but %s's admin server is at %q", sc.JobName, target, host, admin)
			}
			scraped[host] = true
		}
	}
	for name, s := range p.Services {
		if b, ok := composeBinary(s); ok && b.name != "fiscosim" && !scraped[name] {
			t.Errorf("service %s is not scraped", name)
		}
	}
}
