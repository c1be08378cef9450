"""Build convcli's optional native core (``convcli.engine._native``).

The extension is optional: without a C compiler ``pip install .`` still
works and convcli runs on numpy alone (``convcli --version`` says why).
``CONVCLI_REQUIRE_NATIVE=1`` makes a failed build fatal (CI sets it).
Every instruction-set variant is compiled through function attributes in
one translation unit, so no ``-march`` flag is passed and wheels stay portable.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

REQUIRE = os.environ.get("CONVCLI_REQUIRE_NATIVE", "") not in ("", "0")


class BuildNative(build_ext):
    """build_ext that passes GCC/Clang flags and skips compilers without vector types."""

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            # the kernels need GCC/Clang vector extensions: MSVC builds run on numpy
            message = "the native core needs GCC or Clang (MSVC has no vector extensions)"
            if REQUIRE:
                raise RuntimeError(message)
            print(f"convcli: {message}; skipping it", file=sys.stderr)
            self.extensions = []
            return
        for ext in self.extensions:
            ext.extra_compile_args = [
                "-O3",
                "-std=gnu11",
                "-ffp-contract=fast",
                "-fno-strict-aliasing",
                *ext.extra_compile_args,
                *os.environ.get("CONVCLI_NATIVE_CFLAGS", "").split(),
            ]
        super().build_extensions()


native = Extension(
    "convcli.engine._native",
    sources=["src/native/module.c", "src/native/correlate.c"],
    depends=["src/native/correlate.h"],
    optional=not REQUIRE,
)

setup(ext_modules=[native], cmdclass={"build_ext": BuildNative})
