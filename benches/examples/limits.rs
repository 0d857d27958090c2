//! Prints this machine's limits as the benchmarks measure them (`tessera_benches::Limits`):
//! `cargo run --release -p tessera-benches --example limits`.

fn main() {
    let l = tessera_benches::Limits::measure();
    println!("DRAM read, 1 thread:  {:.1} GB/s", l.dram / 1e9);
    println!("int8 dot, 1 thread:   {:.0} GOPS", l.int8 / 1e9);
    println!("f32 FMA, 1 thread:    {:.1} GFLOPS", l.fma / 1e9);
    if l.int8_step.is_finite() {
        println!(
            "int8 gemm ceiling, 1 thread (vpdpbusd + the contract's per-group float step): \
         {:.0} GOPS ({:.0}% of the peak); with q{{b}}k's integer sub-scale {:.0} GOPS ({:.0}%)",
            l.int8_step / 1e9,
            100.0 * l.int8_step / l.int8,
            l.int8_step_sub / 1e9,
            100.0 * l.int8_step_sub / l.int8
        );
    }
    println!(
        "int8 dot, 2 threads:  {:.0} GOPS ({:.2}x one)",
        l.int8_2t / 1e9,
        l.int8_2t / l.int8
    );
    println!(
        "f32 FMA, 2 threads:   {:.1} GFLOPS ({:.2}x one)",
        l.fma_2t / 1e9,
        l.fma_2t / l.fma
    );
}
