package deploy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileTargets checks that each service image runs its own binary from the path the
// compose healthchecks call, as a non-root user, and that compose builds only targets that exist.
func TestDockerfileTargets(t *testing.T) {
	b, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := regexp.MustCompile(`(?m)^FROM (\S+) AS (\S+)$`).FindAllStringSubmatchIndex(string(b), -1)
	targets := map[string]string{}
	for i, s := range stages {
		end := len(b)
		if i+1 < len(stages) {
			end = stages[i+1][0]
		}
		targets[string(b[s[4]:s[5]])] = string(b[s[0]:end])
	}
	for name := range binaries {
		stage, ok := targets[name]
		if !ok {
			t.Errorf("no target %s", name)
			continue
		}
		if !strings.Contains(stage, `ENTRYPOINT ["/usr/local/bin/`+name+`"]`) {
			t.Errorf("target %s does not run /usr/local/bin/%s", name, name)
		}
		if !strings.Contains(stage, ":nonroot") {
			t.Errorf("target %s: not a nonroot base image", name)
		}
	}
	content, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loadCompose(t, content, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range p.Services {
		if s.Build != nil {
			if _, ok := targets[s.Build.Target]; !ok {
				t.Errorf("service %s builds target %q, which the Dockerfile lacks", name, s.Build.Target)
			}
		}
	}
}
