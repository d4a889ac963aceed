package commands

// tools lists the operator tools and the simulator; they join the table as they land.
func tools() []Command { return nil }
