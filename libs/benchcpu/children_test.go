package benchcpu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// testChildren are this test binary's children, for TestChildrenRunTheNamedChild.
var testChildren = Children{
	"greet": func() error {
		fmt.Println("hello " + os.Getenv("BENCHCPU_TEST_NAME"))
		return nil
	},
	"fail": func() error { return errors.New("no luck") },
}

func TestMain(m *testing.M) {
	testChildren.Run()
	os.Exit(m.Run())
}

// TestChildrenRunTheNamedChild starts this test binary as a child (ChildCommand): the
// named child's body runs instead of the tests, its error is the process's failure, and a
// name the binary does not know is refused.
func TestChildrenRunTheNamedChild(t *testing.T) {
	t.Parallel()
	run := func(child string) (string, int) {
		cmd := ChildCommand(child, "BENCHCPU_TEST_NAME=child")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run child %s: %v", child, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := run("greet"); code != 0 || out != "hello child\n" {
		t.Errorf("child greet: exit %d, printed %q; want 0 and only %q", code, out, "hello child\n")
	}
	if out, code := run("fail"); code != 1 || !strings.Contains(out, "no luck") {
		t.Errorf("child fail: exit %d, printed %q; want 1 and its error", code, out)
	}
	if out, code := run("nobody"); code != 2 || !strings.Contains(out, `"nobody"`) {
		t.Errorf("unknown child: exit %d, printed %q; want 2 naming it", code, out)
	}
}
