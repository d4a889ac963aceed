package kafka

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Halt is a partition stopped at a message its handler rejected as permanent, on a stream
// without a dead-letter topic. Nothing at or after Offset in that partition is applied or
// committed until the consumer is restarted, which starts at the message again: an operator
// fixes the cause (a new release, a corrected message upstream) and restarts.
type Halt struct {
	Topic     string
	Partition int
	// Offset is the rejected message's offset: where the group resumes.
	Offset int64
	// Block is the message's block-number header, when HasBlock.
	Block    uint64
	HasBlock bool
	// Err is the *ApplyError naming the message and the handler's error.
	Err  error
	Time time.Time
}

// halts is the set of halted partitions of one consumer.
type halts struct {
	mu sync.Mutex
	m  map[partition]Halt
}

// add records h unless its partition is halted already, reporting whether it was new.
func (hs *halts) add(h Halt) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	p := partition{topic: h.Topic, id: h.Partition}
	if _, ok := hs.m[p]; ok {
		return false
	}
	if hs.m == nil {
		hs.m = make(map[partition]Halt)
	}
	hs.m[p] = h
	return true
}

// drops reports whether m is at or past its partition's halt and must not be applied.
// Messages before the halt still are: they can come again when a commit failed.
func (hs *halts) drops(m kafkago.Message) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h, ok := hs.m[partition{topic: m.Topic, id: m.Partition}]
	return ok && m.Offset >= h.Offset
}

func (hs *halts) list() []Halt {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := make([]Halt, 0, len(hs.m))
	for _, h := range hs.m {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b Halt) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// newHalt describes the halt at m for cause.
func newHalt(m kafkago.Message, cause *ApplyError, now time.Time) Halt {
	h := Halt{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Err: cause, Time: now}
	if n, err := ParseBlockNumberHeader(m.Headers); err == nil {
		h.Block, h.HasBlock = n, true
	}
	return h
}

func partitionLabel(id int) string { return strconv.Itoa(id) }
