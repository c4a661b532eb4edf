import subprocess,time,sys
out=open('/tmp/iso/activity.txt','w')
end=time.time()+45
q="SELECT now()::time, count(*) FILTER (WHERE state='active'), count(*) FILTER (WHERE state='idle in transaction'), count(*) FILTER (WHERE wait_event_type='Lock'), string_agg(DISTINCT left(regexp_replace(query,'\\s+',' ','g'),50), ' | ') FILTER (WHERE state<>'idle') FROM pg_stat_activity WHERE application_name='gateway'"
p=subprocess.Popen(['psql','-h','127.0.0.1','-U','postgres','-At','-F',';'],stdin=subprocess.PIPE,stdout=out,text=True)
while time.time()<end:
    p.stdin.write(q+";\n"); p.stdin.flush(); time.sleep(0.02)
p.stdin.close(); p.wait()
