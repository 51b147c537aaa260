/** Projections: read models built from the event log (inline, async daemon, live). */
export {};
