"""Score distillation (SDS) from frozen diffusers models loaded with from_pretrained."""
