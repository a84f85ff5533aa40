variable "region" {
  description = "AWS region of the stack"
  type        = string
}

variable "layer_zip" {
  description = "The pscache layer zip (scripts/build-layer writes dist/pscache-layer-<architecture>.zip); ignored when layer_arn is set"
  type        = string
  default     = null
}

variable "layer_arn" {
  description = "An already published pscache layer version, instead of a layer made from layer_zip"
  type        = string
  default     = null
}

variable "architecture" {
  description = "x86_64 or arm64, of the layer and the functions"
  type        = string
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "The architecture must be x86_64 or arm64."
  }
}

variable "parameter_path" {
  description = "Parameter Store path the functions may read (the example parameter is created under it)"
  type        = string
  default     = "/pscache-example"
  validation {
    condition     = can(regex("^(/[a-zA-Z0-9_.-]+)+$", var.parameter_path))
    error_message = "The parameter path must look like /name or /name/sub."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key of your SecureString parameters and secrets, if any"
  type        = string
  default     = null
}
