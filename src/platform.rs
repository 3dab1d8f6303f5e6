pub mod self_stats;
