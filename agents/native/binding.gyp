{
  "variables": {
    "native_dir%": "."
  },
  "targets": [
    {
      "target_name": "curl_conv",
      "sources": ["conv_engine.cc"],
      "include_dirs": [
        "<!(node -p \"require(require.resolve('node-addon-api', {paths: ['<(native_dir)']})).include_dir\")",
        "<!@(node <(native_dir)/locate-libtorch.mjs --gyp-include)"
      ],
      "libraries": ["<!@(node <(native_dir)/locate-libtorch.mjs --gyp-libs)"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8", "<!@(node <(native_dir)/locate-libtorch.mjs --gyp-defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=<!(node <(native_dir)/locate-libtorch.mjs --gyp-std)", "-fexceptions", "-frtti", "-O2", "-ffp-contract=off", "-Wno-unused-parameter"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "GCC_ENABLE_CPP_RTTI": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "<!(node <(native_dir)/locate-libtorch.mjs --gyp-std)"
      }
    }
  ]
}
