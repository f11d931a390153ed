// A job read by id (GET /jobs/{id}, any type, the generic shape): what the job follower reads while its
// stream is down. The answer is checked by lib/jobFollow's parseJobSnapshot, not trusted.
import { api, unwrap } from "./client";

export async function readJob(jobId: string): Promise<unknown> {
  return unwrap(await api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: jobId } } }));
}
