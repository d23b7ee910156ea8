/// Which version of a C kernel a test calls: the one the build runs (`simd`: AVX-512 where the
/// compiler targets it, else AVX2), the AVX2 one (compiled wherever AVX2 is, so that AVX-512 machines
/// check it too; the plain one elsewhere), or the plain C twin.
enum KernelVersion: CaseIterable {
    case simd, avx2, plain
}
