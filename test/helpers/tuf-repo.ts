// Moved to testing/ (the benchmarks use it too, and bench/ never imports test/).
export * from '../../testing/tuf-repo';
