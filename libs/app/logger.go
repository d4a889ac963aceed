package app

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a JSON logger for production or a colourless console logger for
// development, at the given level ("debug", "info", "warn", "error"; empty means info).
func NewLogger(dev bool, level string) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("parse log level %q: %w", level, err)
		}
	}
	var cfg zap.Config
	if dev {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "ts"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	return cfg.Build()
}

// LogFlags are the logging options every binary shares.
type LogFlags struct {
	Level string
	Dev   bool
}

// Register adds -log.level and -log.dev to fs.
func (l *LogFlags) Register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&l.Level, "log.level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&l.Dev, "log.dev", false, "human-readable console logs instead of JSON")
}

// Build returns the logger the flags describe.
func (l LogFlags) Build() (*zap.Logger, error) { return NewLogger(l.Dev, l.Level) }
