#!/usr/bin/env bash
# Prints the C/C++ flags every llama.cpp build of this project adds (sourced by the build
# scripts). ggml's native build compiles its AMX kernels on CPUs that advertise AMX, and on
# some virtual machines (Sapphire Rapids guests seen here) the first AMX instruction
# (ldtilecfg) faults although the kernel grants the tile permission: llama.cpp crashes on the
# first matrix multiplication. -mno-amx-* keep -march=native's other features (AVX-512,
# VNNI) and leave the AMX kernels out; explicit -mno-* flags win over -march in GCC and Clang.
case "$(uname -m)" in
  x86_64|amd64) echo "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" ;;
  *) echo "" ;;
esac
