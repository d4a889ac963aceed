package job

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes and validates the -jobs file at path.
func Load(path string) ([]Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a jobs file; name is used in messages. Unknown keys are
// errors; every problem found is reported, each with the file, line, job and field.
func Parse(name string, data []byte) ([]Job, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", name, yamlMessage(err.Error()))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file: want a mapping with jobs", name)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", name, yamlMessage(err.Error()))
	}
	if len(f.Jobs) == 0 {
		return nil, fmt.Errorf("%s: no jobs", name)
	}
	lines := jobLines(doc.Content[0])
	var errs []error
	seen := make(map[string]int)
	for i := range f.Jobs {
		j := &f.Jobs[i]
		j.File = name
		if i < len(lines) {
			j.Line = lines[i]
		}
		if prev, dup := seen[j.Name]; dup && j.Name != "" {
			errs = append(errs, fmt.Errorf("%s:%d: job %q: name already used at line %d", name, j.Line, j.Name, prev))
		}
		seen[j.Name] = j.Line
		if err := j.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f.Jobs, nil
}

// jobLines returns the line of each item of the jobs sequence.
func jobLines(root *yaml.Node) []int {
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "jobs" && root.Content[i+1].Kind == yaml.SequenceNode {
			var lines []int
			for _, item := range root.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}

var (
	reUnknownField = regexp.MustCompile(`field (\S+) not found in type [\w.]+`)
	reIntoType     = regexp.MustCompile(` into [\w.\[\]*]+`)
)

// yamlMessage rewords yaml.v3's messages in the file's terms rather than Go's.
func yamlMessage(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = reUnknownField.ReplaceAllString(msg, "unknown key $1")
	return reIntoType.ReplaceAllStringFunc(msg, func(s string) string {
		s = strings.TrimPrefix(s, " into ")
		switch {
		case strings.Contains(s, "Duration"):
			return " as a duration (10m, 1h30m)"
		case strings.Contains(s, "int"), strings.Contains(s, "float"):
			return " as a number"
		case strings.Contains(s, "bool"):
			return " as true or false"
		}
		return " here"
	})
}

// UnmarshalYAML takes a scalar as a one-element list.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a value or a list of values", c.Line)
			}
			out = append(out, c.Value)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("line %d: want a value or a list of values", n.Line)
}
