// Package acceptance holds tests across every service of the all-in-one binary: the auth
// acceptance test walks every RPC each service registers.
package acceptance
